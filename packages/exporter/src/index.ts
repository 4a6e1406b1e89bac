export * from './onnx-writer.js';
export * from './build-graph.js';
export * from './export-model.js';
export * from './verify.js';
export * from './dtype.js';
export * from './upsample-guidance.js';
