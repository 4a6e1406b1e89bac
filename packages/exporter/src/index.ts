// The ONNX writer lives in @liquidflow/trainer (its training engine serializes step graphs); re-exported for users.
export { IR_VERSION, OPSET, attributeProto, decodeModel, encodeModel, modelProto, nodeProto, tensorProto, valueInfoProto } from '@liquidflow/trainer';
export * from './build-graph.js';
export * from './export-model.js';
export * from './verify.js';
export * from './dtype.js';
