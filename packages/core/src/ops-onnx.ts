// The symbolic executor: each op appends ONNX nodes to a graph and infers static shapes (batch = -1). With weights it
// builds the exportable graph; without, it only records parameter specs (names, shapes, inits), which is how the rest
// of the project learns what parameters a config has without doing any math.
import type { AttrValue, Graph, GraphNode, GraphTensor } from './onnx-graph.js';
import { Ops, type Operand } from './ops.js';
import { type ParamInit, type ParamSpec, type Weights, sizeOf } from './param-init.js';

export interface SymValue {
  name: string;
  shape: number[];
}

export class ShapeError extends Error {
  override name = 'ShapeError';
}

const fmt = (s: readonly number[]) => `[${s.map((d) => (d === -1 ? 'N' : d)).join(', ')}]`;

function broadcast(a: number[], b: number[], where: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (x === -1 || y === -1) out.push(x === -1 ? y : x);
    else throw new ShapeError(`${where}: cannot broadcast ${fmt(a)} with ${fmt(b)}`);
  }
  return out;
}

export interface OnnxOpsOptions {
  /** Weights by parameter name; omit to only collect parameter specs. */
  weights?: Weights;
  /**
   * Where a parameter's value comes from when it is not an initializer (the training graph slices each one out of a
   * flat weights input). Called once per parameter name; the result is reused.
   */
  paramValue?: (name: string, shape: number[]) => SymValue;
}

export class OnnxOps extends Ops<SymValue> {
  readonly executor = 'onnx';
  readonly nodes: GraphNode[] = [];
  readonly initializers = new Map<string, GraphTensor>();
  readonly specs: ParamSpec[] = [];
  /**
   * Multiply-add FLOPs (2 per MAC) of the MatMuls and full (not depthwise) Convs for one batch entry: the model's
   * arithmetic, for GFLOP/s figures.
   */
  matmulFlopsPerSample = 0;
  /** The static shape of every value the graph computes (batch -1 where dynamic), by value name. */
  readonly shapes = new Map<string, number[]>();
  private readonly weights?: Weights;
  private readonly paramValue?: (name: string, shape: number[]) => SymValue;
  private readonly paramValues = new Map<string, SymValue>();
  private readonly path: string[] = [];
  private counter = 0;
  private readonly producer = new Map<string, GraphNode>();
  private readonly consumed = new Set<string>();

  constructor(opts: OnnxOpsOptions = {}) {
    super();
    this.weights = opts.weights;
    this.paramValue = opts.paramValue;
  }

  input(name: string, shape: number[]): SymValue {
    this.shapes.set(name, shape);
    return { name, shape };
  }

  // ---- graph plumbing ----
  private emit(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, floatAttrs?: string[]): string {
    const scope = this.path.filter(Boolean).join('.');
    const name = `${scope ? `${scope}/` : ''}${opType}_${this.counter++}`;
    const node: GraphNode = { opType, name, inputs, outputs: [name], attrs, floatAttrs };
    for (const i of inputs) this.consumed.add(i);
    this.nodes.push(node);
    this.producer.set(name, node);
    return name;
  }

  /** Appends one node whose single output has `shape`; the gradient pass emits its nodes through this too. */
  node(opType: string, inputs: (SymValue | string)[], shape: number[], attrs: Record<string, AttrValue> = {}, floatAttrs?: string[]): SymValue {
    const name = this.emit(opType, inputs.map((v) => (typeof v === 'string' ? v : v.name)), attrs, floatAttrs);
    this.shapes.set(name, shape);
    return { name, shape };
  }

  private op(opType: string, inputs: SymValue[], shape: number[], attrs: Record<string, AttrValue> = {}, floatAttrs?: string[]): SymValue {
    return this.node(opType, inputs, shape, attrs, floatAttrs);
  }

  private addInitializer(t: GraphTensor): SymValue {
    const existing = this.initializers.get(t.name);
    if (!existing) this.initializers.set(t.name, t);
    this.shapes.set(t.name, t.dims);
    return { name: t.name, shape: t.dims };
  }

  /** A named int64 initializer (shapes, axes, indices), shared by every node that needs the same values. */
  int64(values: readonly number[], tag: string): string {
    const key = `const.${tag}.${values.join('_')}`;
    const name = key.length > 120 ? `const.${tag}.${hashInts(values)}` : key;
    if (!this.initializers.has(name)) {
      this.initializers.set(name, { name, dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) });
      this.shapes.set(name, [values.length]);
    }
    return name;
  }

  private operand(v: Operand<SymValue>): SymValue {
    if (typeof v !== 'number') return v;
    const name = `const.scalar.${v}`;
    return this.addInitializer({ name, dtype: 'float32', dims: [], data: Float32Array.of(v) });
  }

  toGraph(name: string, inputs: { value: SymValue; shape: (number | string)[] }[], outputs: { value: SymValue; name: string; shape: (number | string)[] }[]): Graph {
    for (const o of outputs) this.rename(o.value, o.name);
    return {
      name,
      nodes: this.nodes,
      initializers: [...this.initializers.values()],
      inputs: inputs.map((i) => ({ name: i.value.name, dtype: 'float32' as const, shape: i.shape })),
      outputs: outputs.map((o) => ({ name: o.name, dtype: 'float32' as const, shape: o.shape })),
    };
  }

  private rename(v: SymValue, name: string): void {
    this.shapes.set(name, v.shape);
    const node = this.producer.get(v.name);
    if (node && this.consumed.has(v.name) && !this.producer.has(name)) {
      // Already read by later nodes: they read it under the new name (no Identity node: WebGPU providers lack it).
      for (const n of this.nodes) n.inputs = n.inputs.map((i) => (i === v.name ? name : i));
      this.consumed.add(name);
    }
    if (!node || this.producer.has(name)) {
      const id = this.emit('Identity', [v.name]);
      const idNode = this.producer.get(id) as GraphNode;
      this.producer.delete(id);
      idNode.outputs = [name];
      this.producer.set(name, idNode);
    } else {
      this.producer.delete(v.name);
      node.outputs = node.outputs.map((o) => (o === v.name ? name : o));
      this.producer.set(name, node);
    }
    v.name = name;
  }

  // ---- values ----
  shape(x: SymValue): number[] {
    return x.shape;
  }

  param(name: string, shape: number[], init: ParamInit): SymValue {
    if (!this.specs.some((s) => s.name === name)) this.specs.push({ name, shape: [...shape], init });
    if (this.paramValue) {
      let v = this.paramValues.get(name);
      if (!v) this.paramValues.set(name, (v = this.paramValue(name, shape)));
      return v;
    }
    if (!this.weights) return { name, shape };
    const data = this.weights[name];
    if (!data) throw new ShapeError(`weight '${name}' is missing (expected shape ${fmt(shape)})`);
    if (data.length !== sizeOf(shape)) {
      throw new ShapeError(`weight '${name}' has ${data.length} values, expected shape ${fmt(shape)} = ${sizeOf(shape)}`);
    }
    return this.addInitializer({ name, dtype: 'float32', dims: shape, data });
  }

  constant(name: string, shape: number[], make: () => Float32Array): SymValue {
    const existing = this.initializers.get(name);
    if (existing) return { name, shape: existing.dims };
    return this.addInitializer({ name, dtype: 'float32', dims: shape, data: make() });
  }

  override label(x: SymValue, name: string): SymValue {
    this.rename(x, name);
    return x;
  }

  override scope<R>(name: string, fn: () => R): R {
    this.path.push(name);
    try {
      return fn();
    } finally {
      this.path.pop();
    }
  }

  // ---- elementwise ----
  private binary(opType: string, a: SymValue, b: Operand<SymValue>): SymValue {
    const bv = this.operand(b);
    return this.op(opType, [a, bv], broadcast(a.shape, bv.shape, opType));
  }
  add(a: SymValue, b: Operand<SymValue>) { return this.binary('Add', a, b); }
  sub(a: SymValue, b: Operand<SymValue>) { return this.binary('Sub', a, b); }
  mul(a: SymValue, b: Operand<SymValue>) { return this.binary('Mul', a, b); }
  div(a: SymValue, b: Operand<SymValue>) { return this.binary('Div', a, b); }
  private unary(opType: string, x: SymValue) { return this.op(opType, [x], x.shape); }
  neg(x: SymValue) { return this.unary('Neg', x); }
  exp(x: SymValue) { return this.unary('Exp', x); }
  log(x: SymValue) { return this.unary('Log', x); }
  abs(x: SymValue) { return this.unary('Abs', x); }
  relu(x: SymValue) { return this.unary('Relu', x); }
  sqrt(x: SymValue) { return this.unary('Sqrt', x); }
  sigmoid(x: SymValue) { return this.unary('Sigmoid', x); }
  tanh(x: SymValue) { return this.unary('Tanh', x); }
  erf(x: SymValue) { return this.unary('Erf', x); }
  sin(x: SymValue) { return this.unary('Sin', x); }
  cos(x: SymValue) { return this.unary('Cos', x); }

  // ---- linear algebra, movement, reduction ----
  matmul(a: SymValue, b: SymValue): SymValue {
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) throw new ShapeError(`MatMul: inner dims differ, ${fmt(a.shape)} x ${fmt(b.shape)}`);
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    if (b.shape.length !== 2 && batchA.join() !== batchB.join()) {
      throw new ShapeError(`MatMul: batch dims must match or b be rank 2, got ${fmt(a.shape)} x ${fmt(b.shape)}`);
    }
    this.matmulFlopsPerSample += 2 * m * k * n * batchA.reduce((p, d) => (d === -1 ? p : p * d), 1);
    return this.op('MatMul', [a, b], [...batchA, m, n]);
  }

  reshape(x: SymValue, shape: number[]): SymValue {
    const known = x.shape.every((d) => d >= 0);
    const free = shape.filter((d) => d === -1).length;
    if (free > 1) throw new ShapeError(`Reshape: more than one -1 in ${fmt(shape)}`);
    if (known && free === 0 && sizeOf(x.shape) !== sizeOf(shape)) {
      throw new ShapeError(`Reshape: ${fmt(x.shape)} has ${sizeOf(x.shape)} values, target ${fmt(shape)} has ${sizeOf(shape)}`);
    }
    // With a dynamic batch, the inner (static) sizes must divide evenly.
    const inner = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const staticIn = x.shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (!known && free === 1 && staticIn % inner !== 0) {
      throw new ShapeError(`Reshape: ${fmt(x.shape)} cannot become ${fmt(shape)}`);
    }
    const out = known && free === 1 ? shape.map((d) => (d === -1 ? sizeOf(x.shape) / inner : d)) : shape;
    return this.node('Reshape', [x, this.int64(shape, 'shape')], out);
  }

  transpose(x: SymValue, perm: number[]): SymValue {
    if (perm.length !== x.shape.length) throw new ShapeError(`Transpose: perm ${fmt(perm)} for rank ${x.shape.length}`);
    return this.op('Transpose', [x], perm.map((p) => x.shape[p]), { perm });
  }

  slice(x: SymValue, axis: number, start: number, end: number): SymValue {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const size = x.shape[ax];
    if (start < 0 || end > size || start >= end) throw new ShapeError(`Slice: [${start}, ${end}) out of axis ${ax} of ${fmt(x.shape)}`);
    const shape = [...x.shape];
    shape[ax] = end - start;
    return this.node('Slice', [x, this.int64([start], 'starts'), this.int64([end], 'ends'), this.int64([ax], 'axes')], shape);
  }

  concat(xs: SymValue[], axis: number): SymValue {
    const ax = axis < 0 ? axis + xs[0].shape.length : axis;
    const shape = [...xs[0].shape];
    shape[ax] = xs.reduce((s, v) => s + v.shape[ax], 0);
    return this.op('Concat', xs, shape, { axis: ax });
  }

  pad(x: SymValue, pads: [number, number][]): SymValue {
    const shape = x.shape.map((d, i) => (d === -1 ? -1 : d + pads[i][0] + pads[i][1]));
    const flat = [...pads.map((p) => p[0]), ...pads.map((p) => p[1])];
    return this.node('Pad', [x, this.int64(flat, 'pads')], shape, { mode: 'constant' });
  }

  reduceMean(x: SymValue, axis: number): SymValue {
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const shape = [...x.shape];
    shape[ax] = 1;
    return this.op('ReduceMean', [x], shape, { axes: [ax], keepdims: 1 });
  }

  permute(x: SymValue, axis: number, perm: Int32Array): SymValue {
    const idx = this.int64(Array.from(perm), 'indices');
    return this.node('Gather', [x, idx], [...x.shape], { axis });
  }

  // ---- overrides (each checked by the parity tests) ----
  /** One grouped Conv (NCHW) instead of k*k shifted slices: ~45 nodes fewer per conv. */
  override depthwiseConv2d(x: SymValue, w: SymValue, b: SymValue): SymValue {
    const [, h, wd, c] = x.shape;
    const k = w.shape[0];
    const r = (k - 1) / 2;
    const kernel = this.reshape(this.transpose(w, [2, 0, 1]), [c, 1, k, k]); // [k, k, C] -> [C, 1, k, k]
    const nchw = this.transpose(x, [0, 3, 1, 2]);
    const conv = this.op('Conv', [nchw, kernel, b], [x.shape[0], c, h, wd], { group: c, kernel_shape: [k, k], pads: [r, r, r, r] });
    return this.transpose(conv, [0, 2, 3, 1]);
  }

  /** One Conv (NCHW) instead of im2col's k*k slices, a concat and a matmul. */
  override conv2d(x: SymValue, w: SymValue, b: SymValue): SymValue {
    const [, h, wd] = x.shape;
    const [k, , cin, cout] = w.shape;
    const r = (k - 1) / 2;
    const kernel = this.transpose(w, [3, 2, 0, 1]); // [k, k, Cin, Cout] -> [Cout, Cin, k, k]
    const conv = this.op('Conv', [this.transpose(x, [0, 3, 1, 2]), kernel, b], [x.shape[0], cout, h, wd], { kernel_shape: [k, k], pads: [r, r, r, r] });
    this.matmulFlopsPerSample += 2 * h * wd * k * k * cin * cout;
    return this.transpose(conv, [0, 2, 3, 1]);
  }

  /** One grouped 1-D Conv with left padding only (causal) instead of k shifted slices. */
  override causalConv1d(x: SymValue, w: SymValue, b: SymValue): SymValue {
    const [, len, c] = x.shape;
    const k = w.shape[0];
    const kernel = this.reshape(this.transpose(w, [1, 0]), [c, 1, k]); // [k, C] -> [C, 1, k]
    const ncl = this.transpose(x, [0, 2, 1]);
    const conv = this.op('Conv', [ncl, kernel, b], [x.shape[0], c, len], { group: c, kernel_shape: [k], pads: [k - 1, 0] });
    return this.transpose(conv, [0, 2, 1]);
  }

  /** One LayerNormalization node (opset 17) instead of seven elementwise ops. */
  override layerNorm(x: SymValue, eps: number): SymValue {
    const d = x.shape[x.shape.length - 1];
    const ones = this.constant(`const.ones_${d}`, [d], () => new Float32Array(d).fill(1));
    const zeros = this.constant(`const.zeros_${d}`, [d], () => new Float32Array(d));
    return this.op('LayerNormalization', [x, ones, zeros], [...x.shape], { axis: -1, epsilon: eps }, ['epsilon']);
  }
}

function hashInts(values: readonly number[]): string {
  let h = 0x811c9dc5;
  for (const v of values) {
    h ^= v & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= v >>> 16;
    h = Math.imul(h, 0x01000193);
  }
  return `${values.length}x${(h >>> 0).toString(16)}`;
}
