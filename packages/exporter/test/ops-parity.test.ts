// Each op the ONNX executor overrides (a real Conv, LayerNormalization) against the derived form in ops.ts that every
// other executor inherits, run by TF.js on wasm; and each derived op with no override, run both ways. One small graph
// per case on onnxruntime-node, batch 1 and 3.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import { OnnxOps, Ops, Rng, sizeOf } from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';
import { encodeModel } from '@liquidflow/exporter';

interface Case {
  /** The node the ONNX form must contain (proves the override ran), or null for a derived op without one. */
  onnxNode: string | null;
  /** Shapes of the inputs; the first one's leading axis is the batch. */
  shapes: number[][];
  run: <T>(ops: Ops<T>, inputs: T[]) => T;
}

const CASES: Record<string, Case> = {
  'conv2d 3x3 (Conv)': { onnxNode: 'Conv', shapes: [[0, 6, 5, 4], [3, 3, 4, 7], [7]], run: (ops, [x, w, b]) => ops.conv2d(x, w, b) },
  'conv2d 1x1 (Conv)': { onnxNode: 'Conv', shapes: [[0, 4, 4, 5], [1, 1, 5, 3], [3]], run: (ops, [x, w, b]) => ops.conv2d(x, w, b) },
  'depthwiseConv2d 3x3 (grouped Conv)': { onnxNode: 'Conv', shapes: [[0, 6, 5, 4], [3, 3, 4], [4]], run: (ops, [x, w, b]) => ops.depthwiseConv2d(x, w, b) },
  'depthwiseConv2d 5x5 (grouped Conv)': { onnxNode: 'Conv', shapes: [[0, 7, 6, 3], [5, 5, 3], [3]], run: (ops, [x, w, b]) => ops.depthwiseConv2d(x, w, b) },
  'depthwiseConv2d 7x7 (grouped Conv)': { onnxNode: 'Conv', shapes: [[0, 8, 8, 6], [7, 7, 6], [6]], run: (ops, [x, w, b]) => ops.depthwiseConv2d(x, w, b) },
  'causalConv1d (grouped Conv)': { onnxNode: 'Conv', shapes: [[0, 9, 5], [4, 5], [5]], run: (ops, [x, w, b]) => ops.causalConv1d(x, w, b) },
  'layerNorm (LayerNormalization)': { onnxNode: 'LayerNormalization', shapes: [[0, 5, 8]], run: (ops, [x]) => ops.layerNorm(x, 1e-6) },
  'groupNorm (derived: ReduceMean)': { onnxNode: null, shapes: [[0, 4, 3, 12]], run: (ops, [x]) => ops.groupNorm(x, 3, 1e-5) },
};

const values = (shape: number[], seed: number) => new Rng(seed, 17).fillNormal(new Float32Array(sizeOf(shape)));

async function onnxForm(c: Case, shapes: number[][], data: Float32Array[]): Promise<{ y: Float32Array; opTypes: Set<string> }> {
  const ops = new OnnxOps();
  const inputs = shapes.map((s, i) => ops.input(`in${i}`, s));
  const y = c.run(ops, inputs);
  const graph = ops.toGraph('op', inputs.map((v, i) => ({ value: v, shape: shapes[i] })), [{ value: y, name: 'y', shape: y.shape }]);
  const session = await ort.InferenceSession.create(encodeModel(graph, {}));
  try {
    const out = await session.run(Object.fromEntries(shapes.map((s, i) => [`in${i}`, new ort.Tensor('float32', data[i], s)])));
    return { y: out.y.data as Float32Array, opTypes: new Set(graph.nodes.map((n) => n.opType)) };
  } finally {
    await session.release();
  }
}

/** The derived form: Ops's own method, whatever TfOps overrides. */
function derivedForm(c: Case, shapes: number[][], data: Float32Array[]): Float32Array {
  const tfOps = new TfOps(new Map());
  const base = new Proxy(tfOps, {
    get: (target, key, receiver) => (typeof key === 'string' && key in Ops.prototype ? (Ops.prototype as unknown as Record<string, unknown>)[key] : Reflect.get(target, key, receiver)),
  });
  try {
    return tf.tidy(() => c.run(base, shapes.map((s, i) => tf.tensor(data[i], s))).dataSync() as Float32Array);
  } finally {
    tfOps.dispose();
  }
}

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe('ONNX executor vs the derived forms of ops.ts', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}, batch 1 and 3`, async () => {
      for (const batch of [1, 3]) {
        const shapes = c.shapes.map((s, i) => (i === 0 ? [batch, ...s.slice(1)] : s));
        const data = shapes.map((s, i) => values(s, 10 * batch + i));
        const { y, opTypes } = await onnxForm(c, shapes, data);
        if (c.onnxNode) expect(opTypes.has(c.onnxNode), `the ONNX form of ${name} has a ${c.onnxNode} node`).toBe(true);
        const want = derivedForm(c, shapes, data);
        expect(y.length).toBe(want.length);
        const scale = Math.max(...Array.from(want, Math.abs));
        expect(scale).toBeGreaterThan(0.1);
        const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - y[i])));
        expect(err, `${name} batch ${batch}`).toBeLessThan(1e-5 * Math.max(1, scale));
      }
    });
  }
});
