// Training works on the TF.js wasm backend for every variant's structure of both families, with LiquidFlow's kernel overrides as
// liquidflow-train installs them (wasm-kernels.ts, matmuls on 2 threads): every kernel (forward and gradient) exists,
// losses stay finite and go down when overfitting one fixed batch, and a step leaks no tensors.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { LIQUIDDIFFUSION_VARIANT_NAMES, LIQUIDFLOW_VARIANTS, type ModelConfig, countParams, liquidFlowDims, resolveConfig, type LiquidFlowConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import { AdamW, DEFAULT_ADAMW, installWasmKernels, trainStep, uninstallWasmKernels } from '@liquidflow/trainer';

const STEPS = 20;
const BATCH = 2;
const timings: string[] = [];

/** The variant with its structure (depth, patch, state, expand, mlp ratio, scan orders) but a small width and image. */
function scaledDown(variant: string): LiquidFlowConfig {
  const full = resolveConfig(variant);
  const img = full.patch_size * (full.patch_size >= 16 ? 2 : 4); // grid 4x4, or 2x2 for patch 16 (32 px)
  const cfg = resolveConfig(variant, { img_size: img, dim: 32, head_dim: 16, time_freq_dim: 32 });
  for (const k of ['depth', 'patch_size', 'd_state', 'expand', 'mlp_ratio', 'scan_orders', 'd_conv', 'in_channels'] as const) {
    expect(cfg[k]).toBe(full[k]);
  }
  expect(liquidFlowDims(cfg).grid).toBeGreaterThanOrEqual(2);
  return cfg;
}

/** LiquidDiffusion's variant with its stages, blocks and FFN ratio at an eighth of its width, at 16 px. */
function narrowDiffusion(variant: string): ModelConfig {
  const full = resolveConfig(variant, { arch: 'liquiddiffusion' });
  return resolveConfig(variant, { arch: 'liquiddiffusion', img_size: 16, channels: full.channels.map((c) => c / 8), norm_groups: 4, time_freq_dim: 32 });
}

/** A fixed smooth image batch in [-1, 1]: a different low-frequency pattern per channel and batch entry. */
function smoothBatch(cfg: ModelConfig): tf.Tensor4D {
  const s = cfg.img_size;
  const data = new Float32Array(BATCH * cfg.in_channels * s * s);
  let i = 0;
  for (let b = 0; b < BATCH; b++) {
    for (let c = 0; c < cfg.in_channels; c++) {
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) {
          data[i++] = 0.9 * Math.sin((2 * Math.PI * (x + 0.5 * y * (c + 1))) / s + b) * Math.cos((Math.PI * y * (b + 1)) / s + c);
        }
      }
    }
  }
  return tf.tensor4d(data, [BATCH, cfg.in_channels, s, s]);
}

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  await tf.ready();
  expect(tf.getBackend()).toBe('wasm');
  expect(installWasmKernels({ threads: 2 })).toBe(true);
});

afterAll(() => {
  uninstallWasmKernels();
  console.log(`train-wasm timings:\n  ${timings.join('\n  ')}`);
});

describe('training on the wasm backend', () => {
  const cases: [string, () => ModelConfig][] = [
    ...Object.keys(LIQUIDFLOW_VARIANTS).map((v): [string, () => ModelConfig] => [v, () => scaledDown(v)]),
    // Mamba-1's SSM (dt per channel, A per channel and state): 16 tokens (two chunks) and 64 tokens (eight).
    ['tiny, ssm channel', () => resolveConfig('tiny', { ...scaledDown('tiny'), ssm: 'channel' })],
    ['tiny at 32 px, ssm channel', () => resolveConfig('tiny', { img_size: 32, dim: 32, time_freq_dim: 32, ssm: 'channel' })],
    ...LIQUIDDIFFUSION_VARIANT_NAMES.map((v): [string, () => ModelConfig] => [`liquiddiffusion ${v}`, () => narrowDiffusion(v)]),
  ];
  for (const [variant, makeConfig] of cases) {
    it(`${variant} (scaled down): ${STEPS} AdamW steps on one fixed batch lower the loss without leaking tensors`, () => {
      const t0 = performance.now();
      const warn = vi.spyOn(console, 'warn');
      const error = vi.spyOn(console, 'error');
      const cfg = makeConfig();
      const startTensors = tf.memory().numTensors;
      const model = new TfModel(cfg, freshCheckpoint(cfg, 0).weights);
      const opt = new AdamW(model.variables, { ...DEFAULT_ADAMW, lr: 3e-3, weightDecay: 0 });
      const x0 = smoothBatch(cfg);
      const losses: number[] = [];
      const tensorsAfter: number[] = [];
      const bytesAfter: number[] = [];
      try {
        for (let step = 0; step < STEPS; step++) {
          // The same seeded noise and t every step: one fixed batch to overfit.
          const noise = tf.randomNormal(x0.shape, 0, 1, 'float32', 1234);
          const t = tf.randomUniform([BATCH], 0.1, 0.9, 'float32', 99);
          try {
            losses.push(trainStep(model, opt, x0, noise, t).total);
          } finally {
            noise.dispose();
            t.dispose();
          }
          tensorsAfter.push(tf.memory().numTensors);
          bytesAfter.push(tf.memory().numBytes);
        }
      } finally {
        x0.dispose();
        opt.dispose();
        model.dispose();
      }
      const secs = (performance.now() - t0) / 1000;
      // TF.js reports a kernel it falls back on or cannot find through the console; none may appear.
      const logged = [...warn.mock.calls, ...error.mock.calls].map((c) => c.map(String).join(' '));
      warn.mockRestore();
      error.mockRestore();
      expect(logged.filter((l) => /kernel|not registered|backend/i.test(l))).toEqual([]);
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const first = mean(losses.slice(0, 3));
      const last = mean(losses.slice(-5));
      timings.push(
        `${variant}: ${cfg.img_size}px, ${cfg.arch === 'liquidflow' ? `patch ${cfg.patch_size} depth ${cfg.depth}` : `channels [${cfg.channels}] blocks [${cfg.blocks}]`}, ` +
          `${countParams(cfg)} params, ${secs.toFixed(1)} s, ` +
          `loss ${first.toFixed(4)} -> ${last.toFixed(4)}`,
      );

      expect(losses.every(Number.isFinite)).toBe(true);
      expect(last).toBeLessThan(0.8 * first);
      // Constants and permutation indices are created on the first step and kept; after that the count is flat.
      expect(tensorsAfter.slice(1).every((n) => n === tensorsAfter[1]), `numTensors per step: ${tensorsAfter}`).toBe(true);
      expect(bytesAfter.slice(1).every((n) => n === bytesAfter[1]), `numBytes per step: ${bytesAfter}`).toBe(true);
      expect(tensorsAfter[0]).toBeGreaterThan(startTensors);
    });
  }
});

describe('AdamW memory', () => {
  it('model + AdamW + dispose() release every tensor they allocated', () => {
    const cfg = scaledDown('tiny');
    const before = tf.memory();
    const model = new TfModel(cfg, freshCheckpoint(cfg, 0).weights);
    const opt = new AdamW(model.variables, { ...DEFAULT_ADAMW, weightDecay: 0 });
    opt.dispose();
    model.dispose();
    const after = tf.memory();
    expect(after.numTensors - before.numTensors).toBe(0);
    expect(after.numBytes - before.numBytes).toBe(0);
  });

  it('model + dispose() (no optimizer) release every tensor they allocated', () => {
    const cfg = scaledDown('tiny');
    const before = tf.memory();
    const model = new TfModel(cfg, freshCheckpoint(cfg, 0).weights);
    expect(tf.memory().numTensors).toBeGreaterThan(before.numTensors);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });
});
