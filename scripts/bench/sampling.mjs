// Section 'sampling': images per second for tiny at 32 px, 25 Euler steps, batch 1 and 16, with the same weights in
// runtime-node (ORT in a worker thread), in headless Chromium (runtime-web on WASM; when the example app and Debian's
// chromium are present) and in the TF.js sampler (the trainer's), all measured in this run.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, sample } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel, tfjsVelocity } from '@liquidflow/tfjs';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow } from '@liquidflow/runtime-node';
import { fixed, progress } from './util.mjs';
import { openBrowserSampler } from './browser.mjs';

const STEPS = 25;
const BATCHES = [1, 16];

async function timeOnce(fn, repeats) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

export async function samplingSection(ctx) {
  const config = resolveConfig('tiny', { img_size: 32 });
  const ckpt = freshCheckpoint(config, 0);
  const dir = await mkdtemp(join(tmpdir(), 'lf-bench-'));
  const path = join(dir, 'tiny32.onnx');
  await writeFile(path, exportBytes(ckpt, 'ema').bytes);
  const lf = await LiquidFlow.load(path, { device: 'cpu', threads: ctx.ortOptions.intraOpNumThreads });
  const model = new TfModel(config, ckpt.ema);
  const browser = await openBrowserSampler();
  const rows = [];
  try {
    for (const batch of BATCHES) {
      progress(`sampling b${batch}: runtime-node`);
      const nodeMs = await timeOnce(() => lf.generate({ count: batch, steps: STEPS, seed: 0 }), batch === 1 ? 3 : 1);
      progress(`sampling b${batch}: TF.js`);
      const tfMs = await timeOnce(() => sample(tfjsVelocity(model), { count: batch, channels: 3, size: 32, steps: STEPS, seed: 0 }), 1);
      let webMs;
      if (browser) {
        progress(`sampling b${batch}: Chromium wasm`);
        webMs = (await browser.run(path, batch, STEPS)).ms;
      }
      rows.push({
        batch,
        node_ips: (batch * 1000) / nodeMs,
        web_ips: webMs ? (batch * 1000) / webMs : undefined,
        tfjs_ips: (batch * 1000) / tfMs,
        node_vs_tfjs: tfMs / nodeMs,
      });
    }
  } finally {
    await lf.dispose();
    model.dispose();
    await browser?.close();
  }
  return {
    title: `Sampling, tiny 32px, ${STEPS} Euler steps: images/s (same weights)`,
    columns: [
      { key: 'batch', header: 'batch' },
      { key: 'node_ips', header: 'runtime-node img/s', fmt: fixed(2) },
      { key: 'web_ips', header: 'chromium-wasm img/s', fmt: fixed(2) },
      { key: 'tfjs_ips', header: `tfjs(${ctx.tfBackend.name}) img/s`, fmt: fixed(2) },
      { key: 'node_vs_tfjs', header: 'node/tfjs', fmt: fixed(1) },
    ],
    rows,
    notes: browser ? [] : ['chromium-wasm: not measured (needs /usr/bin/chromium and the examples/web app; see packages/runtime-web)'],
  };
}
