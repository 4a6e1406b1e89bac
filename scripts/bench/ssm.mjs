// Section 'ssm': LiquidFlow tiny with the SSM forms side by side in the same run ('head': one decay per head, the
// default; 'channel': Mamba-1's decay per channel and state): parameters, graph nodes, ORT forward time at 32 px
// (batch 1 and 16) and 128 px (batch 1), and one ORT training step at 32 px, batch 16. Fresh weights (seed 0).
import * as ort from 'onnxruntime-node';
import { initialNoise, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes, verificationBatch } from '@liquidflow/exporter';
import { OrtEngine } from '@liquidflow/trainer';
import { fixed, progress, timeIt } from './util.mjs';

const FORMS = ['head', 'channel'];
const FORWARD = [{ size: 32, batch: 1 }, { size: 32, batch: 16 }, { size: 128, batch: 1 }];
const TRAIN = { size: 32, batch: 16, steps: 3 };
const TIMING = { warmup: 2, minRuns: 5, maxRuns: 30, budgetMs: 2000 };

async function forwardMs(config, batch, ortOptions) {
  const { bytes, nodes, params } = exportBytes(freshCheckpoint(config, 0), 'ema');
  const session = await ort.InferenceSession.create(bytes, ortOptions);
  const { x, t, dims } = verificationBatch(config, batch, 0);
  const feeds = { x: new ort.Tensor('float32', x, dims), t: new ort.Tensor('float32', t, [batch]) };
  const r = await timeIt(async () => (await session.run(feeds)).v.data, TIMING);
  await session.release();
  return { ms: r.median, nodes, params };
}

/** Median of TRAIN.steps timed steps after one warm-up step. */
async function trainStepMs(config, threads) {
  const adam = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 };
  const { batch, size } = TRAIN;
  const engine = await OrtEngine.create(config, freshCheckpoint(config, 0), adam, { batch, device: 'cpu', threads });
  const n = batch * config.in_channels * size * size;
  const times = [];
  try {
    for (let s = 0; s <= TRAIN.steps; s++) {
      const t0 = performance.now();
      await engine.step({
        x0: initialNoise(s, n).map(Math.tanh), noise: initialNoise(1000 + s, n), t: Float32Array.from({ length: batch }, (_, i) => (i + 0.5) / batch),
        lr: 1e-4, physics: { smooth: 1e-3, tv: 1e-3 }, emaDecay: 0.999,
      });
      if (s > 0) times.push(performance.now() - t0);
    }
  } finally {
    await engine.dispose();
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1], nodes: engine.info.nodes };
}

export async function ssmSection(ctx) {
  const rows = [];
  for (const ssm of FORMS) {
    for (const { size, batch } of FORWARD) {
      progress(`ssm: ${ssm} tiny ${size}px forward, batch ${batch}`);
      const r = await forwardMs(resolveConfig('tiny', { img_size: size, ssm }), batch, ctx.ortOptions);
      rows.push({ ssm, what: `forward ${size}px b${batch}`, params: r.params / 1e6, nodes: r.nodes, ms: r.ms });
    }
    progress(`ssm: ${ssm} tiny ${TRAIN.size}px ORT training step, batch ${TRAIN.batch}`);
    const r = await trainStepMs(resolveConfig('tiny', { img_size: TRAIN.size, ssm }), ctx.ortOptions.intraOpNumThreads);
    rows.push({ ssm, what: `ORT train step ${TRAIN.size}px b${TRAIN.batch}`, nodes: r.nodes, ms: r.ms });
  }
  for (const r of rows) {
    const head = rows.find((h) => h.ssm === 'head' && h.what === r.what);
    r.ratio = r.ms / head.ms;
  }
  return {
    title: "SSM forms: tiny with ssm 'head' (default) vs 'channel' (Mamba-1), ORT CPU",
    columns: [
      { key: 'ssm', header: 'ssm', align: 'left' }, { key: 'what', header: 'measured', align: 'left' },
      { key: 'params', header: 'params M', fmt: fixed(3) }, { key: 'nodes', header: 'nodes' },
      { key: 'ms', header: 'ms', fmt: fixed(1) }, { key: 'ratio', header: 'vs head', fmt: fixed(2) },
    ],
    rows,
    notes: ['Training steps: median of 3 after one warm-up step (the whole AdamW step as one ONNX graph).'],
  };
}
