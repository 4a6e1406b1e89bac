// Section 'forward': one forward pass of the tiny variant, ORT CPU vs TensorFlow.js, at each resolution and batch,
// with the same EMA weights (freshCheckpoint seed 0) and seeded inputs (verificationBatch). Needs ctx.matmulGflops
// from the matmul section for the %peak column.
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import { exportBytes, maxAbsDiff, verificationBatch } from '@liquidflow/exporter';
import { fixed, progress, sci, timeIt } from './util.mjs';

export const FORWARD_CASES = { variant: 'tiny', sizes: [32, 128], batches: [1, 16] };

const ORT_TIMING = { warmup: 3, minRuns: 7, maxRuns: 50, budgetMs: 2000 };
// TF.js at 128 px batch 16 takes many seconds a run: after a slow warm-up, time only 2 runs.
const TFJS_TIMING = { warmup: 1, plan: (warmupMs) => (warmupMs > 4000 ? { minRuns: 2, maxRuns: 2 } : { minRuns: 3, maxRuns: 7, budgetMs: 3000 }) };

/** TF.js bytes one call may hold: the wasm heap is a 4 GiB wasm32 memory; leave room for weights and fragmentation. */
const WASM_CALL_BUDGET = 3.25 * 2 ** 30;

/** The largest divisor of `batch` whose forward fits the backend's memory (the whole batch off wasm or when unknown). */
function tfjsChunk(ctx, batch, bytesPerImage) {
  if (ctx.tfBackend.name !== 'wasm' || !bytesPerImage) return batch;
  for (let c = batch; c > 1; c--) if (batch % c === 0 && c * bytesPerImage <= WASM_CALL_BUDGET) return c;
  return 1;
}

export async function forwardSection(ctx) {
  const rows = [];
  for (const size of FORWARD_CASES.sizes) {
    const config = resolveConfig(FORWARD_CASES.variant, { img_size: size });
    const ckpt = freshCheckpoint(config, 0);
    const { bytes, nodes, params, flopsPerSample } = exportBytes(ckpt, 'ema');
    const session = await ort.InferenceSession.create(bytes, ctx.ortOptions);
    const model = new TfModel(config, ckpt.ema);
    try {
      let bytesPerImage; // TF.js bytes held at the end of one forward's tidy, per image
      for (const batch of FORWARD_CASES.batches) {
        const { x, t, dims } = verificationBatch(config, batch, 0);
        const label = `${config.variant} ${size}px b${batch}`;

        progress(`${label}: ort`);
        const feeds = { x: new ort.Tensor('float32', x, dims), t: new ort.Tensor('float32', t, [batch]) };
        const o = await timeIt(async () => (await session.run(feeds)).v.data, ORT_TIMING);

        // One tf.tidy keeps every intermediate of the forward alive until it ends, and the wasm backend's heap is
        // capped at 4 GiB: a batch too large for it aborts the whole wasm module. Split such a batch into equal
        // sequential calls sized from the bytes per image measured at the smaller batch run first (the reported
        // time is their sum).
        const chunk = tfjsChunk(ctx, batch, bytesPerImage);
        progress(`${label}: tfjs${chunk < batch ? ` as ${batch / chunk} calls of batch ${chunk}` : ''} (ort ${o.median.toFixed(1)} ms)`);
        const perImage = x.length / batch;
        let liveBytes = 0;
        const j = await timeIt(async () => {
          const out = new Float32Array(x.length);
          for (let b0 = 0; b0 < batch; b0 += chunk) {
            const v = tf.tidy(() => {
              const xs = tf.tensor(x.subarray(b0 * perImage, (b0 + chunk) * perImage), [chunk, ...dims.slice(1)]);
              const r = model.forward(xs, tf.tensor1d(t.subarray(b0, b0 + chunk)));
              liveBytes = Math.max(liveBytes, tf.memory().numBytes);
              return r;
            });
            try {
              out.set(await v.data(), b0 * perImage);
            } finally {
              v.dispose();
            }
          }
          return out;
        }, TFJS_TIMING);
        bytesPerImage = Math.max(bytesPerImage ?? 0, liveBytes / chunk);

        const modelGflops = (flopsPerSample * batch) / (o.median * 1e-3) / 1e9;
        rows.push({
          variant: config.variant,
          size,
          batch,
          ort_ms: o.median,
          tfjs_ms: j.median,
          ratio: j.median / o.median,
          nodes,
          params,
          mflop_per_sample: flopsPerSample / 1e6,
          model_gflops: modelGflops,
          matmul_gflops: ctx.matmulGflops,
          pct_peak: ctx.matmulGflops ? (100 * modelGflops) / ctx.matmulGflops : undefined,
          max_abs_diff: maxAbsDiff(o.result, j.result),
          ort_runs: o.samples.length,
          tfjs_runs: j.samples.length,
          tfjs_calls: batch / chunk,
          tfjs_call_batch: chunk,
          tfjs_live_gib_per_image: bytesPerImage / 2 ** 30,
          ort_samples_ms: o.samples,
          tfjs_samples_ms: j.samples,
          tfjs_warmup_ms: j.warmupMs,
        });
      }
    } finally {
      model.dispose();
      await session.release();
    }
  }

  const find = (size, batch) => rows.find((r) => r.size === size && r.batch === batch);
  const r128 = find(128, 1);
  const r32 = find(32, 16);
  const maxNodes = Math.max(...rows.map((r) => r.nodes));
  const targets = [
    { name: 'tiny 128px b1 ORT forward', measured: r128?.ort_ms, unit: 'ms', op: '<=', limit: 100 },
    { name: 'tiny 128px b1 ORT % of MatMul GFLOP/s', measured: r128?.pct_peak, unit: '%', op: '>=', limit: 40 },
    { name: 'tiny 32px b16 ORT forward', measured: r32?.ort_ms, unit: 'ms', op: '<=', limit: 90 },
    { name: 'tiny graph nodes (max over resolutions)', measured: maxNodes, unit: 'nodes', op: '<=', limit: 1500 },
  ];

  return {
    title: `Forward pass, ${FORWARD_CASES.variant}: ORT CPU vs TF.js (${ctx.tfBackend.name}), median ms`,
    columns: [
      { key: 'size', header: 'size' },
      { key: 'batch', header: 'batch' },
      { key: 'ort_ms', header: 'ort_ms', fmt: fixed(1) },
      { key: 'tfjs_ms', header: 'tfjs_ms', fmt: (v, r) => `${v.toFixed(1)}${r.tfjs_calls > 1 ? '*' : ''}` },
      { key: 'ratio', header: 'tfjs/ort', fmt: fixed(1) },
      { key: 'nodes', header: 'nodes' },
      { key: 'model_gflops', header: 'model_GFLOP/s', fmt: fixed(1) },
      { key: 'matmul_gflops', header: 'matmul_GFLOP/s', fmt: fixed(1) },
      { key: 'pct_peak', header: '%peak', fmt: fixed(1) },
      { key: 'max_abs_diff', header: 'max|ort-tfjs|', fmt: sci },
      { key: 'runs', header: 'runs(ort/tfjs)', fmt: (_, r) => `${r.ort_runs}/${r.tfjs_runs}` },
    ],
    rows,
    targets,
    notes: [
      ...rows
        .filter((r) => r.tfjs_calls > 1)
        .map((r) => `* ${r.size}px b${r.batch}: TF.js ran as ${r.tfjs_calls} sequential calls of batch ${r.tfjs_call_batch} (sum of their times): its forward holds ~${r.tfjs_live_gib_per_image.toFixed(2)} GiB per image until the tidy ends, and the ${ctx.tfBackend.name} heap is capped at 4 GiB`),
      `params ${rows[0]?.params.toLocaleString('en-US')}; MatMul MFLOP/sample: ${[...new Set(rows.map((r) => `${r.size}px ${r.mflop_per_sample.toFixed(1)}`))].join(', ')}`],
  };
}
