// Smaller files of the same model: one pass over an encoded ONNX model per precision, named as transformers.js names
// them. Inputs and outputs stay float32 (x, t -> v), so samplers and runtimes need no change.
//   fp16  every large float32 weight stored as float16 and Cast back to float32 where it is read. Compute stays
//         float32 on every provider (ORT folds the Casts at session creation): the file halves, the images barely move.
//         The scan's decay parameters (A_log, dt_bias) and small tensors stay float32.
//   q8    every MatMul weight as int8 with one float32 scale per output channel (symmetric), read through
//         DequantizeLinear (axis 1); activations float32.
//   q4    every MatMul weight 4-bit, block-quantised along K (blocks of 32, one float32 scale each, zero point 8), run by
//         com.microsoft's MatMulNBits, which onnxruntime's CPU, WASM and WebGPU providers implement; other large
//         weights as in fp16.
// Each added op is on the allowlist below, checked against onnxruntime-web's WebGPU operator list.
import onnxProto from 'onnx-proto';
import { MODEL_DTYPES, type ModelDtype } from '@liquidflow/core';

const { onnx } = onnxProto;
type ModelProto = InstanceType<typeof onnx.ModelProto>;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;
type GraphProto = onnxProto.onnx.IGraphProto & { initializer: TensorProto[]; node: NodeProto[] };


/** What each pass adds to the portable op set (webgpu-operators.md lists Cast, DequantizeLinear, MatMulNBits). */
export const DTYPE_OPS: Record<ModelDtype, readonly string[]> = { fp32: [], fp16: ['Cast'], q8: ['DequantizeLinear'], q4: ['MatMulNBits', 'Cast'] };

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
const INT8 = onnx.TensorProto.DataType.INT8;
const UINT8 = onnx.TensorProto.DataType.UINT8;
/** Smaller tensors are not worth a Cast node each. */
const MIN_ELEMENTS = 1024;
/** The scan's decays: exp(-softplus(.) ...) of these sets how far the state reaches; keep them exact. */
const KEEP_FLOAT32 = /(^|\.)(A_log|dt_bias)$/;
const Q4_BLOCK = 32;

const sizeOf = (t: TensorProto) => (t.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
const dimsOf = (t: TensorProto) => (t.dims ?? []).map(Number);
const graphOf = (m: ModelProto) => m.graph as GraphProto;

function floats(t: TensorProto): Float32Array {
  // A copy: protobufjs hands out Node Buffers in Node, whose slice() is a view into a shared pool, not a copy.
  if (t.rawData && t.rawData.length) return new Float32Array(Uint8Array.from(t.rawData).buffer, 0, sizeOf(t));
  return Float32Array.from(t.floatData ?? []);
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** float32 -> IEEE half bits, round to nearest even; overflow to +-Inf, underflow through subnormals to 0. */
export function toHalfBits(v: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = v;
  const x = u[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = mant >>> 13;
  const rest = mant & 0x1fff;
  let out = (e << 10) | half;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) out++; // may carry into the exponent: still correct
  return sign | out;
}

function tensor(name: string, dataType: number, dims: number[], data: ArrayBufferView): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: bytesOf(data) });
}

function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, number> = {}, domain?: string): NodeProto {
  const attribute = Object.entries(attrs).map(([name, i]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }));
  return onnx.NodeProto.create({ name: `${outputs[0]}/${opType}`, opType, input: inputs, output: outputs, attribute, ...(domain ? { domain } : {}) });
}

/** Stores the large float32 initializers not in `skip` as float16, each read through a Cast to float32. */
function halfStorage(m: ModelProto, skip: Set<string>): number {
  const g = graphOf(m);
  const casts: NodeProto[] = [];
  let converted = 0;
  g.initializer = g.initializer.map((t) => {
    const name = String(t.name);
    if (t.dataType !== FLOAT || sizeOf(t) < MIN_ELEMENTS || skip.has(name) || KEEP_FLOAT32.test(name)) return t;
    const src = floats(t);
    const half = new Uint16Array(src.length);
    for (let i = 0; i < src.length; i++) half[i] = toHalfBits(src[i]);
    casts.push(node('Cast', [`${name}.fp16`], [name], { to: FLOAT }));
    converted++;
    return tensor(`${name}.fp16`, FLOAT16, dimsOf(t), half);
  });
  g.node = [...casts, ...g.node];
  return converted;
}

/** The MatMuls whose second input is a rank-2 float32 initializer: [node, weight] pairs. */
function weightMatMuls(m: ModelProto): { node: NodeProto; weight: TensorProto }[] {
  const init = new Map(graphOf(m).initializer.map((t) => [String(t.name), t]));
  return graphOf(m).node.flatMap((n) => {
    const w = n.opType === 'MatMul' && n.input ? init.get(n.input[1]) : undefined;
    return w && w.dataType === FLOAT && dimsOf(w).length === 2 ? [{ node: n, weight: w }] : [];
  });
}

/** int8 per output channel: W [K, N] -> q [K, N], scale [N] with W ~ q * scale. */
export function quantizeQ8(w: Float32Array, k: number, n: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let max = 0;
    for (let i = 0; i < k; i++) max = Math.max(max, Math.abs(w[i * n + j]));
    scale[j] = max > 0 ? max / 127 : 1;
  }
  const q = new Int8Array(k * n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) q[i * n + j] = Math.max(-127, Math.min(127, Math.round(w[i * n + j] / scale[j])));
  return { q, scale };
}

/**
 * MatMulNBits' layout: W [K, N] -> B [N, blocks, 16] (two 4-bit values a byte, the even k in the low nibble), scales
 * [N * blocks]; value = (q - 8) * scale. K is zero-padded to a whole number of blocks.
 */
export function quantizeQ4(w: Float32Array, k: number, n: number): { packed: Uint8Array; scales: Float32Array; blocks: number } {
  const blocks = Math.ceil(k / Q4_BLOCK);
  const packed = new Uint8Array(n * blocks * (Q4_BLOCK / 2));
  const scales = new Float32Array(n * blocks);
  for (let j = 0; j < n; j++) {
    for (let b = 0; b < blocks; b++) {
      let max = 0;
      for (let i = b * Q4_BLOCK; i < Math.min(k, (b + 1) * Q4_BLOCK); i++) max = Math.max(max, Math.abs(w[i * n + j]));
      const s = max > 0 ? max / 7 : 1;
      scales[j * blocks + b] = s;
      for (let i = 0; i < Q4_BLOCK; i++) {
        const kk = b * Q4_BLOCK + i;
        const q = kk < k ? Math.max(0, Math.min(15, Math.round(w[kk * n + j] / s) + 8)) : 8;
        const at = (j * blocks + b) * (Q4_BLOCK / 2) + (i >> 1);
        packed[at] |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { packed, scales, blocks };
}

function q8Pass(m: ModelProto): number {
  const g = graphOf(m);
  const done = new Map<string, string>();
  const added: TensorProto[] = [];
  const dq: NodeProto[] = [];
  for (const { node: n, weight } of weightMatMuls(m)) {
    const name = String(weight.name);
    let deq = done.get(name);
    if (!deq) {
      const [k, nn] = dimsOf(weight);
      const { q, scale } = quantizeQ8(floats(weight), k, nn);
      deq = `${name}.dequantized`;
      added.push(tensor(`${name}.q8`, INT8, [k, nn], q), tensor(`${name}.scale`, FLOAT, [nn], scale), tensor(`${name}.zero_point`, INT8, [nn], new Int8Array(nn)));
      dq.push(node('DequantizeLinear', [`${name}.q8`, `${name}.scale`, `${name}.zero_point`], [deq], { axis: 1 }));
      done.set(name, deq);
    }
    (n.input as string[])[1] = deq;
  }
  g.initializer = [...g.initializer.filter((t) => !done.has(String(t.name))), ...added];
  g.node = [...dq, ...g.node];
  return done.size;
}

function q4Pass(m: ModelProto): number {
  const g = graphOf(m);
  const quantized = new Set<string>();
  const added = new Map<string, TensorProto[]>();
  for (const { node: n, weight } of weightMatMuls(m)) {
    const name = String(weight.name);
    const [k, nn] = dimsOf(weight);
    if (!added.has(name)) {
      const { packed, scales, blocks } = quantizeQ4(floats(weight), k, nn);
      added.set(name, [tensor(`${name}.q4`, UINT8, [nn, blocks, Q4_BLOCK / 2], packed), tensor(`${name}.q4_scales`, FLOAT, [nn * blocks], scales)]);
    }
    const input = n.input as string[];
    const replacement = node('MatMulNBits', [input[0], `${name}.q4`, `${name}.q4_scales`], [...(n.output ?? [])], { K: k, N: nn, bits: 4, block_size: Q4_BLOCK }, 'com.microsoft');
    Object.assign(n, { opType: replacement.opType, input: replacement.input, attribute: replacement.attribute, domain: 'com.microsoft' });
    quantized.add(name);
  }
  g.initializer = [...g.initializer.filter((t) => !quantized.has(String(t.name))), ...[...added.values()].flat()];
  if (!m.opsetImport.some((o) => o.domain === 'com.microsoft')) m.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 }));
  return quantized.size;
}

export interface DtypeResult {
  bytes: Uint8Array;
  dtype: ModelDtype;
  /** Weights stored in the new precision. */
  converted: number;
}

/** The same model in another precision; metadata gains 'liquidflow.dtype'. fp32 returns the bytes unchanged. */
export function convertDtype(bytes: Uint8Array, dtype: ModelDtype): DtypeResult {
  if (!MODEL_DTYPES.includes(dtype)) throw new RangeError(`--dtype must be one of ${MODEL_DTYPES.join(', ')}, got '${dtype}'`);
  if (dtype === 'fp32') return { bytes, dtype, converted: 0 };
  const m = onnx.ModelProto.decode(bytes);
  if (m.metadataProps.some((p) => p.key === 'liquidflow.dtype' && p.value !== 'fp32')) throw new Error('the model is already converted (metadata liquidflow.dtype); convert the fp32 model');
  let converted = 0;
  if (dtype === 'fp16') converted = halfStorage(m, new Set());
  else if (dtype === 'q8') converted = q8Pass(m);
  else {
    converted = q4Pass(m);
    // MatMulNBits reads its scales as a constant (prepacked at session creation): they stay float32 initializers.
    converted += halfStorage(m, new Set(graphOf(m).initializer.map((t) => String(t.name)).filter((n) => n.endsWith('.q4_scales'))));
  }
  m.metadataProps = [...m.metadataProps.filter((p) => p.key !== 'liquidflow.dtype'), onnx.StringStringEntryProto.create({ key: 'liquidflow.dtype', value: dtype })];
  return { bytes: onnx.ModelProto.encode(m).finish(), dtype, converted };
}
