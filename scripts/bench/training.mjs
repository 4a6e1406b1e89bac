// Section 'training': training steps per second for tiny at 32 px, batch 16, on the wasm and cpu TF.js backends in the
// same run, and the time a step spends making its batch (data loading).
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import { AdamW, installWasmKernels, uninstallWasmKernels, makeBatch, trainStep, loadDataset } from '@liquidflow/trainer';
import { fixed, progress } from './util.mjs';

const BATCH = 16;

async function syntheticDataset(size) {
  const count = 256;
  const pixels = new Uint8Array(count * size * size * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return { name: 'synthetic', source: 'generated', size, count, pixels };
}

export async function trainingSection(ctx) {
  const config = resolveConfig('tiny', { img_size: 32 });
  let data;
  try {
    data = await loadDataset({ name: 'fashion-mnist', size: 32 });
  } catch {
    data = await syntheticDataset(32); // Fashion-MNIST not installed: batch assembly costs the same on any pixels
  }
  const rows = [];
  const previous = tf.getBackend();
  // 'wasm' runs with our kernel overrides (wasm-kernels.ts), as liquidflow-train does, on 1 and on all cores' threads;
  // 'wasm-tfjs-kernels' with TF.js's own kernels.
  const threads = availableParallelism();
  const runs = [
    { name: 'wasm', backend: 'wasm', kernels: { threads: 1 } },
    ...(threads > 1 ? [{ name: `wasm-${threads}-threads`, backend: 'wasm', kernels: { threads } }] : []),
    { name: 'wasm-tfjs-kernels', backend: 'wasm', kernels: null },
    { name: 'cpu', backend: 'cpu', kernels: null },
  ];
  for (const { name, backend, kernels } of runs) {
    await tf.setBackend(backend);
    uninstallWasmKernels();
    if (kernels) installWasmKernels(kernels);
    const ckpt = freshCheckpoint(config, 0);
    const model = new TfModel(config, ckpt.weights);
    const opt = new AdamW(model.variables);
    // The cpu backend takes a minute or more a step and has no compile warm-up: one timed step is enough there.
    const warmup = backend === 'wasm' ? 1 : 0;
    const steps = kernels ? 4 : backend === 'wasm' ? 2 : 1;
    let dataMs = 0;
    const times = [];
    for (let s = 0; s < steps + warmup; s++) {
      progress(`training ${name} step ${s + 1}/${steps + warmup}`);
      const t0 = performance.now();
      const b = makeBatch(data, 0, s, BATCH);
      const t1 = performance.now();
      const x0 = tf.tensor(b.x0, [BATCH, 3, 32, 32]);
      const noise = tf.tensor(b.noise, x0.shape);
      const t = tf.tensor1d(b.t);
      trainStep(model, opt, x0, noise, t, { smooth: 1e-3, tv: 1e-3 });
      tf.dispose([x0, noise, t]);
      if (s >= warmup) {
        times.push(performance.now() - t0);
        dataMs += t1 - t0;
      }
    }
    model.dispose();
    opt.dispose();
    const stepMs = times.reduce((a, b) => a + b, 0) / times.length;
    rows.push({ backend: name, steps_per_s: 1000 / stepMs, step_ms: stepMs, data_ms: dataMs / times.length, data_share: dataMs / times.length / stepMs });
  }
  uninstallWasmKernels();
  await tf.setBackend(previous);
  const rate = (name) => rows.find((r) => r.backend === name).steps_per_s;
  return {
    title: `Training, tiny 32px, batch ${BATCH} (${data.name}): steps/s per TF.js backend`,
    columns: [
      { key: 'backend', header: 'backend', align: 'left' },
      { key: 'steps_per_s', header: 'steps/s', fmt: fixed(3) },
      { key: 'step_ms', header: 'ms/step', fmt: fixed(0) },
      { key: 'data_ms', header: 'data ms/step', fmt: fixed(1) },
      { key: 'data_share', header: 'data share', fmt: (v) => `${(v * 100).toFixed(1)}%` },
    ],
    rows,
    notes: [
      `wasm/cpu speed ratio: ${(rate('wasm') / rate('cpu')).toFixed(1)}x`,
      `our wasm kernels vs TF.js's own: ${(rate('wasm') / rate('wasm-tfjs-kernels')).toFixed(2)}x steps/s`,
      ...(threads > 1 ? [`${threads} threads vs 1: ${(rate(`wasm-${threads}-threads`) / rate('wasm')).toFixed(2)}x steps/s`] : []),
    ],
  };
}
