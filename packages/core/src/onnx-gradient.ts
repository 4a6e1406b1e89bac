// Reverse-mode gradients of a graph built by OnnxOps, in the spirit of tinygrad's gradient.py: one short rule per op
// type, and a walk over the nodes in reverse order (they are appended in topological order) that sums gradients where
// a value fans out. Every op the model, its loss and the ONNX executor's overrides emit has a rule here; a missing
// rule fails by the op's name. The rules emit their nodes through the same OnnxOps, so the backward graph is plain
// ONNX (opset 17, no Loop/Scan/If) and stays on TRAINING_OPS: the same step can run wherever the forward runs.
//
// Shapes must be static (build the graph with a fixed batch): reductions that undo broadcasting need every size.
import type { GraphNode } from './onnx-graph.js';
import { type OnnxOps, ShapeError, type SymValue } from './ops-onnx.js';
import { sizeOf } from './param-init.js';

interface RuleInput {
  ops: OnnxOps;
  node: GraphNode;
  /** The node's inputs, with their shapes. */
  x: SymValue[];
  /** Its (only) output. */
  y: SymValue;
  /** The gradient of the loss with respect to y. */
  g: SymValue;
  /** Which inputs need a gradient (a rule may skip the others). */
  needs: boolean[];
  /** The values of an int64 initializer input (shapes, axes, pads, indices). */
  ints(i: number): number[];
}

/** One gradient per input (null: none needed, or the input is not differentiable, like a shape). */
type Rule = (r: RuleInput) => (SymValue | null)[];

// ---- helpers the rules share ----

/** Sums g over the axes broadcasting stretched, so the gradient has the shape of the operand that was broadcast. */
function unbroadcast(ops: OnnxOps, g: SymValue, shape: number[]): SymValue {
  if (g.shape.join() === shape.join()) return g;
  const extra = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) if (i < extra || (shape[i - extra] === 1 && g.shape[i] !== 1)) axes.push(i);
  const kept = g.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const summed = axes.length ? ops.node('ReduceSum', [g, ops.int64(axes, 'axes')], kept, { keepdims: 1 }) : g;
  return summed.shape.join() === shape.join() ? summed : ops.reshape(summed, shape);
}

/** Broadcasts g (a reduction's gradient, size 1 on the reduced axes) back to the full shape. */
function expand(ops: OnnxOps, g: SymValue, shape: number[]): SymValue {
  return ops.node('Expand', [g, ops.int64(shape, 'shape')], shape);
}

const oneMinus = (ops: OnnxOps, y: SymValue) => ops.add(ops.neg(y), 1);
/** 1 where x > 0, else 0. (Greater and Cast, not Sign: WebGPU providers have no Sign kernel.) */
export function positive(ops: OnnxOps, x: SymValue): SymValue {
  return ops.node('Cast', [ops.node('Greater', [x, ops.constant('const.zero', [], () => Float32Array.of(0))], x.shape)], x.shape, { to: 1 });
}
const swapLast = (ops: OnnxOps, x: SymValue) => ops.transpose(x, [...x.shape.keys()].map((i, _, a) => (i < a.length - 2 ? i : 2 * a.length - 3 - i)));
const inversePerm = (perm: number[]) => perm.map((_, i) => perm.indexOf(i));

/** Reverses a tensor along one axis (flips a conv kernel). */
function flip(ops: OnnxOps, x: SymValue, axis: number): SymValue {
  const n = x.shape[axis];
  return ops.node('Gather', [x, ops.int64(Array.from({ length: n }, (_, i) => n - 1 - i), 'indices')], x.shape, { axis });
}

/** Gradients of the Convs the executor emits: depthwise (group = channels) and full (group 1), stride 1, no dilation. */
function convGradients(r: RuleInput): (SymValue | null)[] {
  const { ops, node, x: [x, w], g, needs } = r;
  const [b, cin] = x.shape;
  const cout = w.shape[0];
  const spatial = x.shape.length - 2;
  const k = w.shape.slice(2);
  const pads = (node.attrs.pads as number[] | undefined) ?? new Array(2 * spatial).fill(0);
  const plain = (['strides', 'dilations'] as const).every((a) => !node.attrs[a] || (node.attrs[a] as number[]).every((v) => v === 1));
  const group = (node.attrs.group as number | undefined) ?? 1;
  const depthwise = group === cin && cout === cin && w.shape[1] === 1;
  if (!(depthwise || group === 1) || !plain) {
    throw new ShapeError(`${node.name}: the Conv gradient supports depthwise and full convs (group = channels or 1), stride 1 only`);
  }
  const toFront = [1, 0, ...Array.from({ length: spatial }, (_, i) => 2 + i)]; // swaps the batch and channel axes
  const out: (SymValue | null)[] = [null, null, null];
  if (needs[0]) {
    // A stride-1 conv's input gradient is the conv of g with the flipped kernel (in and out channels swapped for a
    // full conv), padded by k-1 minus each pad.
    let flipped = w;
    for (let a = 0; a < spatial; a++) flipped = flip(ops, flipped, 2 + a);
    if (!depthwise) flipped = ops.transpose(flipped, toFront); // [Cin, Cout, ...k]
    const back = pads.map((p, i) => k[i % spatial] - 1 - p);
    out[0] = ops.node('Conv', [g, flipped], x.shape, { group, kernel_shape: k, pads: back });
  }
  if (needs[1]) {
    // dW[o, i, d] = sum over batch and positions of g[b, o, p] x[b, i, p + d - pad]: one conv with the batch as the
    // channels and g as the kernel. Depthwise: one group per channel; full: x's channels as the batch, giving
    // [Cin, Cout, ...k].
    const kernel = ops.transpose(g, toFront); // [Cout, B, ...spatial]
    const xt = ops.transpose(x, toFront); // [Cin, B, ...spatial]
    if (depthwise) {
      const input = ops.reshape(xt, [1, cin * b, ...x.shape.slice(2)]);
      out[1] = ops.reshape(ops.node('Conv', [input, kernel], [1, cin, ...k], { group: cin, kernel_shape: g.shape.slice(2), pads }), w.shape);
    } else {
      out[1] = ops.transpose(ops.node('Conv', [xt, kernel], [cin, cout, ...k], { kernel_shape: g.shape.slice(2), pads }), toFront);
    }
  }
  if (needs[2]) out[2] = ops.reshape(unbroadcast(ops, g, [1, cout, ...new Array(spatial).fill(1)]), [cout]);
  return out;
}

export const GRADIENT_RULES: Readonly<Record<string, Rule>> = {
  Identity: ({ g }) => [g],
  Add: ({ ops, x: [a, b], g }) => [unbroadcast(ops, g, a.shape), unbroadcast(ops, g, b.shape)],
  Sub: ({ ops, x: [a, b], g, needs }) => [unbroadcast(ops, g, a.shape), needs[1] ? unbroadcast(ops, ops.neg(g), b.shape) : null],
  Mul: ({ ops, x: [a, b], g, needs }) => [
    needs[0] ? unbroadcast(ops, ops.mul(g, b), a.shape) : null,
    needs[1] ? unbroadcast(ops, ops.mul(g, a), b.shape) : null,
  ],
  // d(a/b)/db = -a/b^2 = -y/b
  Div: ({ ops, x: [a, b], y, g, needs }) => {
    const gb = ops.div(g, b);
    return [needs[0] ? unbroadcast(ops, gb, a.shape) : null, needs[1] ? unbroadcast(ops, ops.neg(ops.mul(gb, y)), b.shape) : null];
  },
  Neg: ({ ops, g }) => [ops.neg(g)],
  Exp: ({ ops, y, g }) => [ops.mul(g, y)],
  Log: ({ ops, x: [x], g }) => [ops.div(g, x)],
  // |x|' = 1 where x > 0, else -1, and relu' = 1 where x > 0, else 0: TF.js's choices at 0.
  Abs: ({ ops, x: [x], g }) => [ops.mul(g, ops.sub(ops.mul(positive(ops, x), 2), 1))],
  Relu: ({ ops, x: [x], g }) => [ops.mul(g, positive(ops, x))],
  Sqrt: ({ ops, y, g }) => [ops.div(ops.mul(g, 0.5), y)],
  Sigmoid: ({ ops, y, g }) => [ops.mul(g, ops.mul(y, oneMinus(ops, y)))],
  Tanh: ({ ops, y, g }) => [ops.mul(g, oneMinus(ops, ops.mul(y, y)))],
  Erf: ({ ops, x: [x], g }) => [ops.mul(g, ops.mul(ops.exp(ops.neg(ops.mul(x, x))), 2 / Math.sqrt(Math.PI)))],
  Sin: ({ ops, x: [x], g }) => [ops.mul(g, ops.cos(x))],
  Cos: ({ ops, x: [x], g }) => [ops.neg(ops.mul(g, ops.sin(x)))],

  MatMul: ({ ops, x: [a, b], g, needs }) => {
    const ga = needs[0] ? ops.matmul(g, swapLast(ops, b)) : null;
    if (!needs[1]) return [ga, null];
    if (b.shape.length > 2) return [ga, ops.matmul(swapLast(ops, a), g)];
    // A weight shared by every batch entry: fold the batch into rows, one Gemm with A transposed in place.
    const [k, n] = b.shape;
    const rows = sizeOf(a.shape) / k;
    const gb = ops.node('Gemm', [ops.reshape(a, [rows, k]), ops.reshape(g, [rows, n])], [k, n], { transA: 1 });
    return [ga, gb];
  },

  Reshape: ({ ops, x: [x], g }) => [ops.reshape(g, x.shape), null],
  Transpose: ({ ops, node, g }) => [ops.transpose(g, inversePerm(node.attrs.perm as number[]))],
  Slice: ({ ops, x: [x], g, ints }) => {
    const [start, end, axis] = [ints(1)[0], ints(2)[0], ints(3)[0]];
    const pads = x.shape.map((d, i): [number, number] => (i === axis ? [start, d - end] : [0, 0]));
    return [ops.pad(g, pads), null, null, null];
  },
  Concat: ({ ops, node, x, g }) => {
    const axis = node.attrs.axis as number;
    let at = 0;
    return x.map((v) => ops.slice(g, axis, at, (at += v.shape[axis])));
  },
  Pad: ({ ops, x: [x], g, ints }) => {
    const pads = ints(1);
    if (pads.some((p) => p < 0)) throw new ShapeError('Pad gradient: negative pads are not supported');
    let out = g;
    x.shape.forEach((d, i) => {
      if (pads[i] || pads[i + x.shape.length]) out = ops.slice(out, i, pads[i], pads[i] + d);
    });
    return [out, null];
  },
  ReduceMean: ({ ops, node, x: [x], g }) => {
    const axes = (node.attrs.axes as number[]).map((a) => (a < 0 ? a + x.shape.length : a));
    const n = axes.reduce((p, a) => p * x.shape[a], 1);
    return [expand(ops, ops.mul(g, 1 / n), x.shape)];
  },
  // Only permutations (the zigzag orders): the gradient gathers by the inverse permutation.
  Gather: ({ ops, node, x: [x], g, ints }) => {
    const axis = node.attrs.axis as number;
    const perm = ints(1);
    const inverse = new Array<number>(perm.length).fill(-1);
    perm.forEach((p, i) => (inverse[p] = i));
    if (perm.length !== x.shape[axis] || inverse.includes(-1)) throw new ShapeError(`${node.name}: the Gather gradient supports permutations only`);
    return [ops.node('Gather', [g, ops.int64(inverse, 'indices')], x.shape, { axis }), null];
  },
  Conv: convGradients,
  // y = (x - mean) / sqrt(var + eps) with scale 1 and bias 0 (the executor's override; AdaLN adds its own affine):
  // dx = (g - mean(g) - y mean(g y)) / sqrt(var + eps)
  LayerNormalization: ({ ops, node, x: [x], y, g, needs }) => {
    if (needs[1] || needs[2]) throw new ShapeError(`${node.name}: LayerNormalization's scale and bias must be constants`);
    const last = x.shape.length - 1;
    const centered = ops.sub(x, ops.reduceMean(x, last));
    const std = ops.sqrt(ops.add(ops.reduceMean(ops.mul(centered, centered), last), node.attrs.epsilon as number));
    const inner = ops.sub(ops.sub(g, ops.reduceMean(g, last)), ops.mul(y, ops.reduceMean(ops.mul(g, y), last)));
    return [ops.div(inner, std), null, null];
  },
};

/** The op types the gradient rules emit beyond the forward's: what a training graph adds to PORTABLE_OPS. */
export const GRADIENT_OPS: readonly string[] = ['Cast', 'Expand', 'Gemm', 'Greater', 'ReduceSum'];

/**
 * Appends the nodes computing d(loss)/d(w) for each w in `wrt` to the graph in `ops`, and returns them (same shapes
 * as wrt). loss must have one element. A w the loss does not depend on gets a zero gradient.
 */
export function appendGradients(ops: OnnxOps, loss: SymValue, wrt: SymValue[]): SymValue[] {
  const forward = ops.nodes.slice();
  // Values that depend on some w: only their producers need gradients.
  const live = new Set(wrt.map((w) => w.name));
  for (const n of forward) if (n.inputs.some((i) => live.has(i))) for (const o of n.outputs) live.add(o);

  const grads = new Map<string, SymValue>();
  if (sizeOf(loss.shape) !== 1) throw new ShapeError(`the loss must have one element, got shape [${loss.shape}]`);
  grads.set(loss.name, ops.constant(`grad.seed_${loss.shape.length}`, loss.shape, () => Float32Array.of(1)));

  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const g = grads.get(node.outputs[0]);
    if (!g || !live.has(node.outputs[0])) continue;
    const rule = GRADIENT_RULES[node.opType];
    if (!rule) throw new ShapeError(`no gradient rule for ${node.opType} (node ${node.name})`);
    const x = node.inputs.map((name) => {
      const shape = ops.shapes.get(name);
      if (!shape) throw new ShapeError(`${node.name}: the shape of input '${name}' is unknown`);
      if (shape.includes(-1)) throw new ShapeError(`${node.name}: gradients need static shapes (build the graph with a fixed batch)`);
      return { name, shape };
    });
    const needs = node.inputs.map((name) => live.has(name));
    const ints = (k: number) => {
      const t = ops.initializers.get(node.inputs[k]);
      if (!t || t.dtype !== 'int64') throw new ShapeError(`${node.name}: input ${k} must be an int64 initializer`);
      return Array.from(t.data as BigInt64Array, Number);
    };
    const y = { name: node.outputs[0], shape: ops.shapes.get(node.outputs[0]) as number[] };
    const gx = ops.scope(`grad:${node.name}`, () => rule({ ops, node, x, y, g, needs, ints }));
    node.inputs.forEach((name, k) => {
      const gk = gx[k];
      if (!needs[k] || !gk) return;
      const prev = grads.get(name);
      grads.set(name, prev ? ops.add(prev, gk) : gk);
    });
  }
  return wrt.map((w) => grads.get(w.name) ?? ops.constant(`grad.zeros_${w.shape.join('x')}`, w.shape, () => new Float32Array(sizeOf(w.shape))));
}
