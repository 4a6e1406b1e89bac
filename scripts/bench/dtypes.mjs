// Section 'dtypes': the shipped demo model in each precision (models/fashion-mnist-tiny/model{,_fp16,_q8,_q4}.onnx),
// side by side in one run: file size, session creation and images/s in runtime-node and in headless Chromium (WASM),
// images after 25 Heun steps against fp32's (PSNR, same noise), sample quality (FD, precision, recall; Euler 25 steps,
// --dtype_quality_count=N images, default 250), and on WebGPU's software adapter, one image against WASM's
// (correctness only: SwiftShader is far slower than WASM).
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_DTYPES, dtypeFileName } from '@liquidflow/core';
import { LiquidFlow } from '@liquidflow/runtime-node';
import { FASHION_MNIST_DIR, QualityEvaluator, generateFromModel } from '@liquidflow/trainer';
import { fixed, progress } from './util.mjs';
import { openBrowserSampler } from './browser.mjs';

const FOLDER = join(import.meta.dirname, '..', '..', 'models', 'fashion-mnist-tiny');
const BATCH = 16;
const STEPS = 25;

function psnr(a, b) {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += ((a[i] - b[i]) / 255) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

export async function dtypesSection(ctx) {
  const qualityCount = Number(process.argv.find((a) => a.startsWith('--dtype_quality_count='))?.split('=')[1] ?? 250);
  const threads = ctx.ortOptions.intraOpNumThreads;
  const quality = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'))
    ? await QualityEvaluator.create({ dataset: 'fashion-mnist', count: qualityCount, threads })
    : null;
  const browser = await openBrowserSampler();
  const rows = [];
  const notes = [];
  let refPixels;
  let refWeb;
  try {
    for (const dtype of MODEL_DTYPES) {
      const path = join(FOLDER, dtypeFileName(dtype));
      if (!existsSync(path)) {
        notes.push(`${dtype}: ${path} missing (liquidflow-export models/fashion-mnist-tiny/model.onnx models/fashion-mnist-tiny/model.onnx --dtype fp16,q8,q4)`);
        continue;
      }
      progress(`dtypes: ${dtype} in runtime-node`);
      const t0 = performance.now();
      const lf = await LiquidFlow.load(FOLDER, { dtype, device: 'cpu', threads });
      const nodeLoadMs = performance.now() - t0;
      const heun = await lf.generate({ count: 4, steps: STEPS, sampler: 'heun', seed: 0 });
      const pixels = Buffer.concat(heun.map((i) => Buffer.from(i.data)));
      refPixels ??= pixels;
      await lf.generate({ count: BATCH, steps: STEPS, seed: 0 }); // warm-up
      const g0 = performance.now();
      await lf.generate({ count: BATCH, steps: STEPS, seed: 0 });
      const nodeIps = (BATCH * 1000) / (performance.now() - g0);
      let q;
      if (quality) {
        progress(`dtypes: ${dtype} sample quality (${quality.count} images)`);
        q = await quality.score(await generateFromModel(lf, quality.count, { steps: STEPS, sampler: 'euler', seed: 0 }), quality.count, lf.config.img_size);
      }
      await lf.dispose();
      let web;
      let gpuDiff;
      if (browser) {
        progress(`dtypes: ${dtype} in Chromium (wasm)`);
        web = await browser.run(path, BATCH, STEPS);
        refWeb ??= web;
        progress(`dtypes: ${dtype} in Chromium (WebGPU, software adapter: one image, 2 steps)`);
        try {
          const [w, g] = [await browser.run(path, 1, 2, { timed: false }), await browser.run(path, 1, 2, { device: 'webgpu', timed: false })];
          gpuDiff = g.device === 'webgpu' ? Math.max(...w.firstPixels.map((v, i) => Math.abs(v - g.firstPixels[i]))) : undefined;
          if (g.device !== 'webgpu') notes.push(`${dtype}: WebGPU not available in Chromium here`);
        } catch (e) {
          notes.push(`${dtype}: WebGPU failed: ${String(e.message).split('\n')[0]}`);
        }
      }
      rows.push({
        dtype, mb: statSync(path).size / 1e6, ratio: statSync(path).size / statSync(join(FOLDER, 'model.onnx')).size,
        node_load_ms: nodeLoadMs, node_ips: nodeIps, web_load_ms: web?.loadMs, web_ips: web ? (BATCH * 1000) / web.ms : undefined,
        psnr: psnr(refPixels, pixels), fd: q?.fd, precision: q?.precision, recall: q?.recall, webgpu_diff: gpuDiff,
      });
    }
  } finally {
    await browser?.close();
    await quality?.dispose();
  }
  if (quality) notes.push(`quality: ${quality.count} images per set, Euler ${STEPS} steps, seed 0; real-data floor FD ${quality.floor.fd.toFixed(2)}, precision ${quality.floor.precision.toFixed(3)}, recall ${quality.floor.recall.toFixed(3)}`);
  else notes.push('quality: not measured (Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist)');
  if (!browser) notes.push('Chromium: not measured (/usr/bin/chromium missing)');
  notes.push(`PSNR: 4 images, Heun ${STEPS} steps, seed 0, against fp32's RGBA bytes; images/s: batch ${BATCH}, Euler ${STEPS} steps; WebGPU diff: max |RGBA difference| of one image (2 steps) against WASM's, in 0-255 levels`);
  const byDtype = Object.fromEntries(rows.map((r) => [r.dtype, r]));
  return {
    title: `The demo model in each dtype (fashion-mnist-tiny, 32 px)`,
    columns: [
      { key: 'dtype', header: 'dtype', align: 'left' }, { key: 'mb', header: 'MB', fmt: fixed(2) }, { key: 'ratio', header: 'x fp32', fmt: fixed(3) },
      { key: 'node_load_ms', header: 'node load ms', fmt: fixed(0) }, { key: 'node_ips', header: 'node img/s', fmt: fixed(1) },
      { key: 'web_load_ms', header: 'web load ms', fmt: fixed(0) }, { key: 'web_ips', header: 'web img/s', fmt: fixed(1) },
      { key: 'psnr', header: 'PSNR dB', fmt: fixed(1) }, { key: 'fd', header: 'FD', fmt: fixed(2) }, { key: 'precision', header: 'prec', fmt: fixed(3) },
      { key: 'recall', header: 'recall', fmt: fixed(3) }, { key: 'webgpu_diff', header: 'WebGPU diff', fmt: fixed(0) },
    ],
    rows,
    notes,
    targets: [
      { name: 'fp16 file size vs fp32', measured: byDtype.fp16?.ratio, op: '<=', limit: 0.51, unit: 'x' },
      { name: 'q8 file size vs fp32', measured: byDtype.q8?.ratio, op: '<=', limit: 0.27, unit: 'x' },
      { name: 'q4 file size vs fp32', measured: byDtype.q4?.ratio, op: '<=', limit: 0.17, unit: 'x' },
      { name: 'fp16 images vs fp32 (PSNR)', measured: byDtype.fp16?.psnr, op: '>=', limit: 40, unit: 'dB' },
      { name: 'q8 images vs fp32 (PSNR)', measured: byDtype.q8?.psnr, op: '>=', limit: 30, unit: 'dB' },
    ],
  };
}
