// Serializes the core's plain-object graph into an ONNX ModelProto with onnx-proto (no converter involved): model
// exports, and the trainer's training-step graphs. Like onnx.helper: small pure functions from plain values to protos;
// attribute kinds are inferred from the value.
import onnxProto from 'onnx-proto';
import { type AttrValue, type Graph, type GraphNode, type GraphTensor, type GraphValueInfo, OPSET } from '@liquidflow/core';

const { onnx } = onnxProto;

export { OPSET };
/** IR version 8 goes with opset 17. */
export const IR_VERSION = 8;

const DTYPE = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 } as const;

function littleEndianBytes(t: GraphTensor): Uint8Array {
  // Typed arrays are little-endian on every platform ORT and browsers run on; copy to drop any byte offset.
  return new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
}

export function tensorProto(t: GraphTensor) {
  return onnx.TensorProto.create({ name: t.name, dims: t.dims, dataType: DTYPE[t.dtype], rawData: littleEndianBytes(t) });
}

export function attributeProto(name: string, value: AttrValue, isFloat: boolean) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    return isFloat ? onnx.AttributeProto.create({ name, type: A.FLOATS, floats: value }) : onnx.AttributeProto.create({ name, type: A.INTS, ints: value });
  }
  return isFloat ? onnx.AttributeProto.create({ name, type: A.FLOAT, f: value }) : onnx.AttributeProto.create({ name, type: A.INT, i: value });
}

export function nodeProto(n: GraphNode) {
  const attribute = Object.keys(n.attrs)
    .sort()
    .map((k) => attributeProto(k, n.attrs[k], n.floatAttrs?.includes(k) ?? false));
  return onnx.NodeProto.create({ name: n.name, opType: n.opType, input: n.inputs, output: n.outputs, attribute });
}

export function valueInfoProto(v: GraphValueInfo) {
  const dim = v.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return onnx.ValueInfoProto.create({ name: v.name, type: { tensorType: { elemType: DTYPE[v.dtype], shape: { dim } } } });
}

export function modelProto(g: Graph, metadata: Record<string, string>, producerVersion: string) {
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'liquidflow',
    producerVersion,
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: onnx.GraphProto.create({
      name: g.name,
      node: g.nodes.map(nodeProto),
      initializer: g.initializers.map(tensorProto),
      input: g.inputs.map(valueInfoProto),
      output: g.outputs.map(valueInfoProto),
    }),
  });
}

export function encodeModel(g: Graph, metadata: Record<string, string>, producerVersion = '0.1.0'): Uint8Array {
  return onnx.ModelProto.encode(modelProto(g, metadata, producerVersion)).finish();
}

/** Reads back the metadata and op types of an encoded model (for tests and for checking exports). */
export function decodeModel(bytes: Uint8Array) {
  const m = onnx.ModelProto.decode(bytes);
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps) metadata[String(p.key)] = String(p.value);
  return {
    opset: m.opsetImport.map((o) => ({ domain: o.domain, version: Number(o.version) })),
    opTypes: (m.graph?.node ?? []).map((n) => String(n.opType)),
    inputs: (m.graph?.input ?? []).map((i) => String(i.name)),
    outputs: (m.graph?.output ?? []).map((o) => String(o.name)),
    metadata,
  };
}
