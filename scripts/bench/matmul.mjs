// Section 'matmul': the GFLOP/s onnxruntime-node's CPU EP reaches on one large MatMul, A [8,1024,1024] x B [1024,1024],
// a practical peak the model's GFLOP/s is compared against. The one-node model is built with the exporter's writer.
import * as ort from 'onnxruntime-node';
import { Rng } from '@liquidflow/core';
import { encodeModel } from '@liquidflow/exporter';
import { progress, timeIt } from './util.mjs';

const [BATCH, M, K, N] = [8, 1024, 1024, 1024];

export function matmulModelBytes() {
  /** @type {import('@liquidflow/core').Graph} */
  const graph = {
    name: 'bench_matmul',
    nodes: [{ opType: 'MatMul', name: 'matmul', inputs: ['A', 'B'], outputs: ['Y'], attrs: {} }],
    initializers: [],
    inputs: [
      { name: 'A', dtype: 'float32', shape: [BATCH, M, K] },
      { name: 'B', dtype: 'float32', shape: [K, N] },
    ],
    outputs: [{ name: 'Y', dtype: 'float32', shape: [BATCH, M, N] }],
  };
  return encodeModel(graph, { 'liquidflow.bench': 'matmul' });
}

export async function matmulSection(ctx) {
  const flops = 2 * BATCH * M * K * N;
  const rng = new Rng(1, 0xbe7c);
  const a = rng.fillNormal(new Float32Array(BATCH * M * K));
  const b = rng.fillNormal(new Float32Array(K * N));
  const session = await ort.InferenceSession.create(matmulModelBytes(), ctx.ortOptions);
  try {
    const feeds = { A: new ort.Tensor('float32', a, [BATCH, M, K]), B: new ort.Tensor('float32', b, [K, N]) };
    progress(`matmul ${BATCH}x${M}x${K} @ ${K}x${N}`);
    const t = await timeIt(() => session.run(feeds), { warmup: 2, minRuns: 7, maxRuns: 30, budgetMs: 2000 });
    // The peak is the best run: other load on the machine only ever slows a run down.
    const gflops = flops / (t.min * 1e-3) / 1e9;
    const gflopsMedian = flops / (t.median * 1e-3) / 1e9;
    const row = { shape: `[${BATCH},${M},${K}]x[${K},${N}]`, gflop: flops / 1e9, ms: t.median, min_ms: t.min, runs: t.samples.length, gflops, gflops_median: gflopsMedian };
    ctx.matmulGflops = gflops;
    return {
      title: 'ORT CPU MatMul peak',
      columns: [
        { key: 'shape', header: 'matmul', align: 'left' },
        { key: 'gflop', header: 'GFLOP', fmt: (v) => v.toFixed(2) },
        { key: 'ms', header: 'median_ms', fmt: (v) => v.toFixed(1) },
        { key: 'min_ms', header: 'best_ms', fmt: (v) => v.toFixed(1) },
        { key: 'runs', header: 'runs' },
        { key: 'gflops_median', header: 'GFLOP/s(median)', fmt: (v) => v.toFixed(1) },
        { key: 'gflops', header: 'GFLOP/s(best)', fmt: (v) => v.toFixed(1) },
      ],
      rows: [row],
      notes: ['matmul_GFLOP/s in the forward table is the best run (other load only slows runs down)'],
      json: { ...row, samples_ms: t.samples },
    };
  } finally {
    await session.release();
  }
}
