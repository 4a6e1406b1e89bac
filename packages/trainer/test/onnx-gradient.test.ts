// Each gradient rule of core's onnx-gradient.ts against TF.js's own gradients: a small Ops program per op (the same
// code runs on TfOps, differentiated by tf.variableGrads, and on OnnxOps, differentiated by appendGradients and run by
// onnxruntime). The loss is mean(program(params) * r) with a fixed random r, so every output element matters.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import {
  type FeatureNetConfig, GRADIENT_RULES, OnnxOps, type Ops, Rng, TRAINING_OPS, appendGradients, crossEntropy, featureNet, featureNetSpecs, meanAll, sizeOf,
} from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';
import { encodeModel } from '@liquidflow/exporter';

interface Case {
  /** The ONNX op types whose rules this case exercises (besides the loss's Mul, Reshape and ReduceMean). */
  covers: string[];
  params: Record<string, { shape: number[]; positive?: boolean }>;
  program: <T>(ops: Ops<T>, p: Record<string, T>) => T;
}

const unary = (op: string, f: <T>(ops: Ops<T>, x: T) => T, positive = false): Case => ({
  covers: [op], params: { x: { shape: [2, 3, 5], positive } }, program: (ops, p) => f(ops, p.x),
});

const FEATURE_NET: FeatureNetConfig = { dataset: 'test', classes: ['a', 'b', 'c'], in_channels: 2, img_size: 8, widths: [3, 4, 5] };

const CASES: Record<string, Case> = {
  'add (broadcast on both sides)': { covers: ['Add'], params: { a: { shape: [2, 3, 4] }, b: { shape: [3, 1] } }, program: (ops, p) => ops.add(p.a, p.b) },
  'sub (broadcast)': { covers: ['Sub'], params: { a: { shape: [2, 1, 4] }, b: { shape: [3, 4] } }, program: (ops, p) => ops.sub(p.a, p.b) },
  'mul (broadcast)': { covers: ['Mul'], params: { a: { shape: [2, 3, 4] }, b: { shape: [4] } }, program: (ops, p) => ops.mul(p.a, p.b) },
  'div (broadcast)': { covers: ['Div'], params: { a: { shape: [2, 3, 4] }, b: { shape: [2, 1, 4], positive: true } }, program: (ops, p) => ops.div(p.a, p.b) },
  neg: unary('Neg', (ops, x) => ops.neg(x)),
  exp: unary('Exp', (ops, x) => ops.exp(x)),
  log: unary('Log', (ops, x) => ops.log(x), true),
  abs: unary('Abs', (ops, x) => ops.abs(x)),
  relu: unary('Relu', (ops, x) => ops.relu(x)),
  sqrt: unary('Sqrt', (ops, x) => ops.sqrt(x), true),
  sigmoid: unary('Sigmoid', (ops, x) => ops.sigmoid(x)),
  tanh: unary('Tanh', (ops, x) => ops.tanh(x)),
  erf: unary('Erf', (ops, x) => ops.erf(x)),
  sin: unary('Sin', (ops, x) => ops.sin(x)),
  cos: unary('Cos', (ops, x) => ops.cos(x)),
  'matmul with a shared weight': { covers: ['MatMul', 'Gemm'], params: { a: { shape: [2, 5, 3] }, w: { shape: [3, 4] } }, program: (ops, p) => ops.matmul(p.a, p.w) },
  'batched matmul': { covers: ['MatMul'], params: { a: { shape: [2, 3, 5, 4] }, b: { shape: [2, 3, 4, 6] } }, program: (ops, p) => ops.matmul(p.a, p.b) },
  reshape: { covers: ['Reshape'], params: { x: { shape: [2, 3, 4] } }, program: (ops, p) => ops.exp(ops.reshape(p.x, [2, 12])) },
  transpose: { covers: ['Transpose'], params: { x: { shape: [2, 3, 4] } }, program: (ops, p) => ops.mul(ops.transpose(p.x, [2, 0, 1]), ops.transpose(p.x, [2, 0, 1])) },
  slice: { covers: ['Slice', 'Pad'], params: { x: { shape: [2, 6, 3] } }, program: (ops, p) => ops.slice(p.x, 1, 2, 5) },
  concat: { covers: ['Concat'], params: { a: { shape: [2, 2, 3] }, b: { shape: [2, 4, 3] } }, program: (ops, p) => ops.concat([p.a, ops.exp(p.b)], 1) },
  pad: { covers: ['Pad', 'Slice'], params: { x: { shape: [2, 3, 4] } }, program: (ops, p) => ops.pad(ops.exp(p.x), [[0, 0], [1, 2], [0, 3]]) },
  reduceMean: { covers: ['ReduceMean', 'Expand'], params: { x: { shape: [2, 3, 4] } }, program: (ops, p) => ops.exp(ops.reduceMean(p.x, 1)) },
  'permute (the zigzag Gather)': {
    covers: ['Gather'], params: { x: { shape: [2, 6, 3] } }, program: (ops, p) => ops.mul(ops.permute(p.x, 1, Int32Array.from([3, 0, 5, 1, 4, 2])), ops.permute(p.x, 1, Int32Array.from([0, 2, 4, 1, 3, 5]))),
  },
  'depthwise conv 2d (grouped Conv override)': {
    covers: ['Conv', 'Gather', 'ReduceSum'], params: { x: { shape: [2, 5, 5, 3] }, w: { shape: [3, 3, 3] }, b: { shape: [3] } },
    program: (ops, p) => ops.depthwiseConv2d(p.x, p.w, p.b),
  },
  'depthwise conv 7x7 on a map smaller than the kernel (grouped Conv override)': {
    covers: ['Conv'], params: { x: { shape: [2, 4, 5, 3] }, w: { shape: [7, 7, 3] }, b: { shape: [3] } },
    program: (ops, p) => ops.depthwiseConv2d(p.x, p.w, p.b),
  },
  'full conv 2d (Conv override)': {
    covers: ['Conv', 'Gather', 'Transpose', 'ReduceSum'], params: { x: { shape: [2, 5, 4, 3] }, w: { shape: [3, 3, 3, 4] }, b: { shape: [4] } },
    program: (ops, p) => ops.conv2d(p.x, p.w, p.b),
  },
  'full conv 2d, 1x1 kernel': {
    covers: ['Conv'], params: { x: { shape: [2, 3, 3, 4] }, w: { shape: [1, 1, 4, 2] }, b: { shape: [2] } },
    program: (ops, p) => ops.conv2d(p.x, p.w, p.b),
  },
  'group norm (derived: reshape, two ReduceMeans a moment)': {
    covers: ['ReduceMean', 'Expand', 'Sqrt', 'Div'], params: { x: { shape: [2, 3, 2, 8] } },
    program: (ops, p) => ops.mul(ops.groupNorm(p.x, 2, 1e-5), ops.exp(p.x)),
  },
  'causal conv 1d (grouped Conv override)': {
    covers: ['Conv'], params: { x: { shape: [2, 7, 3] }, w: { shape: [4, 3] }, b: { shape: [3] } }, program: (ops, p) => ops.causalConv1d(p.x, p.w, p.b),
  },
  'layer norm (LayerNormalization override)': {
    covers: ['LayerNormalization'], params: { x: { shape: [2, 4, 6] } }, program: (ops, p) => ops.mul(ops.layerNorm(p.x, 1e-5), ops.exp(p.x)),
  },
  'feature net with cross-entropy (the quality metric\'s classifier)': {
    covers: ['Conv', 'Transpose', 'Relu', 'Exp', 'Log', 'ReduceMean'],
    params: Object.fromEntries(featureNetSpecs(FEATURE_NET).map((s) => [s.name, { shape: s.shape }])),
    program: (ops) => {
      const x = ops.constant('x', [2, 2, 8, 8], () => values('x', [2, 2, 8, 8]));
      const oneHot = ops.constant('one_hot', [2, 3], () => Float32Array.of(0, 1, 0, 0, 0, 1));
      return ops.reshape(crossEntropy(ops, featureNet(ops, FEATURE_NET, x).logits, oneHot), [1]);
    },
  },
};

function values(name: string, shape: number[], positive = false): Float32Array {
  const rng = new Rng(name.length * 7919 + sizeOf(shape));
  return Float32Array.from({ length: sizeOf(shape) }, () => (positive ? 0.5 + rng.uniform() : 2 * rng.uniform() - 1));
}

const lossWeights = (shape: number[]) => () => values('r', shape);

function tfGradients(c: Case): Record<string, Float32Array> {
  return tf.tidy(() => {
    const vars = new Map(Object.entries(c.params).map(([k, v]) => [k, tf.variable(tf.tensor(values(k, v.shape, v.positive), v.shape))]));
    const ops = new TfOps(vars);
    const { grads } = tf.variableGrads(() => {
      const y = c.program(ops, Object.fromEntries(vars) as Record<string, tf.Tensor>);
      return meanAll(ops, ops.mul(y, ops.constant('r', ops.shape(y), lossWeights(ops.shape(y))))) as tf.Scalar;
    }, [...vars.values()]);
    const out = Object.fromEntries([...vars.entries()].map(([k, v]) => [k, grads[v.name].dataSync() as Float32Array]));
    ops.dispose();
    vars.forEach((v) => v.dispose());
    return out;
  });
}

async function ortGradients(c: Case): Promise<{ grads: Record<string, Float32Array>; opTypes: Set<string> }> {
  const ops: OnnxOps = new OnnxOps({ paramValue: (name, shape) => ops.input(name, shape) });
  const p = Object.fromEntries(Object.entries(c.params).map(([k, v]) => [k, ops.param(k, v.shape, { kind: 'zeros' })]));
  const y = c.program(ops, p);
  const loss = meanAll(ops, ops.mul(y, ops.constant('r', y.shape, lossWeights(y.shape))));
  const names = Object.keys(p);
  const forwardOps = new Set(ops.nodes.map((n) => n.opType));
  const g = appendGradients(ops, loss, names.map((k) => p[k]));
  const graph = ops.toGraph('case', names.map((k) => ({ value: p[k], shape: c.params[k].shape })),
    [{ value: loss, name: 'loss', shape: [] }, ...g.map((v, i) => ({ value: v, name: `grad_${names[i]}`, shape: c.params[names[i]].shape }))]);
  const session = await ort.InferenceSession.create(encodeModel(graph, {}));
  const feeds = Object.fromEntries(names.map((k) => [k, new ort.Tensor('float32', values(k, c.params[k].shape, c.params[k].positive), c.params[k].shape)]));
  const out = await session.run(feeds);
  await session.release();
  const opTypes = new Set(graph.nodes.map((n) => n.opType));
  forwardOps.forEach((o) => opTypes.add(o));
  return { grads: Object.fromEntries(names.map((k) => [k, out[`grad_${k}`].data as Float32Array])), opTypes };
}

describe('gradient rules (ONNX graph on onnxruntime vs tf.variableGrads)', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      await tf.setBackend('cpu');
      const expected = tfGradients(c);
      const { grads, opTypes } = await ortGradients(c);
      for (const op of c.covers) expect(opTypes.has(op), `${name} should exercise ${op}`).toBe(true);
      for (const op of opTypes) expect(TRAINING_OPS.has(op), `${op} is not on the training allowlist`).toBe(true);
      for (const k of Object.keys(c.params)) {
        const want = expected[k];
        const scale = Math.max(...Array.from(want, Math.abs));
        expect(scale, `${name}: d/d${k} is all zero, the case tests nothing`).toBeGreaterThan(0);
        const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - grads[k][i])));
        expect(err / scale, `${name}: d/d${k}`).toBeLessThan(1e-5);
      }
    });
  }

  it('every rule is exercised by a case above', () => {
    const covered = new Set(Object.values(CASES).flatMap((c) => c.covers));
    // Identity is emitted only where a graph gives a graph input a second name, which no model does.
    const untested = Object.keys(GRADIENT_RULES).filter((op) => !covered.has(op) && op !== 'Identity');
    expect(untested).toEqual([]);
  });

  it('a missing rule fails by the op name', () => {
    const ops: OnnxOps = new OnnxOps({ paramValue: (name, shape) => ops.input(name, shape) });
    const x = ops.param('x', [2, 3], { kind: 'zeros' });
    const y = ops.node('Floor', [x], [2, 3]);
    expect(() => appendGradients(ops, meanAll(ops, y), [x])).toThrow(/no gradient rule for Floor/);
  });

  it('refuses a dynamic batch with a clear message', () => {
    const ops: OnnxOps = new OnnxOps({ paramValue: (name, shape) => ops.input(name, shape) });
    const x = ops.input('x', [-1, 3]);
    const w = ops.param('w', [3, 2], { kind: 'zeros' });
    expect(() => appendGradients(ops, meanAll(ops, ops.matmul(x, w)), [w])).toThrow(/static shapes \(build the graph with a fixed batch\)/);
  });
});
