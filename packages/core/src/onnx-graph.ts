// A plain-object ONNX graph: what the symbolic executor builds and the exporter serializes with onnx-proto.
// Kept free of protobuf so the core package has no dependencies.

export type AttrValue = number | number[] | string;

export interface GraphNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  /** Attributes; integers vs floats are told apart by `floatAttrs`. */
  attrs: Record<string, AttrValue>;
  floatAttrs?: string[];
}

export interface GraphTensor {
  name: string;
  dtype: 'float32' | 'int64';
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface GraphValueInfo {
  name: string;
  dtype: 'float32';
  /** Dimensions; a string is a symbolic dimension (the batch 'N'). */
  shape: (number | string)[];
}

export interface Graph {
  name: string;
  nodes: GraphNode[];
  initializers: GraphTensor[];
  inputs: GraphValueInfo[];
  outputs: GraphValueInfo[];
}

/**
 * Every op the exporter may emit. Each has a kernel in ORT-web's WebGPU EP and in the WASM/CPU EP (opset 17).
 * Less and Where select per sample on t (upsample guidance), instead of an If node.
 */
export const PORTABLE_OPS: ReadonlySet<string> = new Set([
  'Abs', 'Add', 'Concat', 'Conv', 'Cos', 'Div', 'Erf', 'Exp', 'Gather', 'LayerNormalization', 'Less', 'Log', 'MatMul', 'Mul',
  'Neg', 'Pad', 'ReduceMean', 'Relu', 'Reshape', 'Sigmoid', 'Sin', 'Slice', 'Sqrt', 'Sub', 'Tanh', 'Transpose', 'Where',
]);
