// ORT output vs TF.js output for the same weights and inputs, batch 1 and 4, max abs error <= 1e-4 in fp32. LiquidFlow:
// every variant at full width and depth, scaled down in image size to keep CI fast, plus tiny at its seed size.
// LiquidDiffusion: every variant's structure (stages, blocks, bottleneck, FFN ratio) at an eighth of its width and
// 16 px, plus tiny at full width at 32 px.
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, LIQUIDDIFFUSION_VARIANTS, type LiquidDiffusionConfig, resolveConfig } from '@liquidflow/core';
import { buildGraph, encodeModel, maxAbsDiff, runOrt, runTfjs, verificationBatch, VERIFY_TOLERANCE } from '@liquidflow/exporter';
import { perturbedWeights } from './weights-fixture.js';

const CASES: { variant: string; img_size: number }[] = [
  { variant: 'tiny', img_size: 32 },
  { variant: 'small', img_size: 32 },
  { variant: 'base', img_size: 32 }, // patch 8: 4x4 tokens
  { variant: '512', img_size: 64 }, // patch 16: 4x4 tokens
  { variant: 'tiny', img_size: 128 }, // the seed's size: 1024 tokens
];

beforeAll(async () => {
  await tf.setBackend('wasm');
});

/** An eighth of the variant's widths (norm groups 4 to fit), its stages and blocks unchanged. */
function narrowDiffusion(variant: string, img_size: number): LiquidDiffusionConfig {
  const full = resolveConfig(variant, { arch: 'liquiddiffusion' });
  return resolveConfig(variant, { arch: 'liquiddiffusion', img_size, channels: full.channels.map((c) => c / 8), norm_groups: 4, time_freq_dim: 32 });
}

async function expectParity(cfg: ModelConfig, label: string) {
  const weights = perturbedWeights(cfg, 7);
  const bytes = encodeModel(buildGraph(cfg, weights).graph, {});
  for (const batch of [1, 4]) {
    const { x, t, dims } = verificationBatch(cfg, batch, batch);
    const ortOut = await runOrt(bytes, x, t, dims);
    const tfOut = await runTfjs(cfg, weights, x, t, dims);
    const maxRef = tfOut.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxRef, 'the output is not trivially small').toBeGreaterThan(0.1);
    expect(maxAbsDiff(ortOut, tfOut), `${label} batch ${batch}`).toBeLessThanOrEqual(VERIFY_TOLERANCE);
  }
}

describe('ORT vs TF.js parity', () => {
  for (const { variant, img_size } of CASES) {
    it(`${variant} at ${img_size}px, batch 1 and 4`, async () => {
      await expectParity(resolveConfig(variant, { img_size }), `${variant} ${img_size}px`);
    });
  }

  // Mamba-1's SSM (per-channel dt, A per channel and state): 64 tokens in 8 chunks, and 100 tokens (a padded chunk).
  for (const img_size of [32, 40]) {
    it(`tiny with ssm channel at ${img_size}px, batch 1 and 4`, async () => {
      await expectParity(resolveConfig('tiny', { img_size, ssm: 'channel' }), `tiny ssm channel ${img_size}px`);
    });
  }

  for (const variant of Object.keys(LIQUIDDIFFUSION_VARIANTS)) {
    it(`liquiddiffusion ${variant}, an eighth as wide, at 16px, batch 1 and 4`, async () => {
      await expectParity(narrowDiffusion(variant, 16), `liquiddiffusion ${variant}/8 16px`);
    });
  }

  it('liquiddiffusion tiny at full width, 32px, batch 1 and 4', async () => {
    await expectParity(resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 32 }), 'liquiddiffusion tiny 32px');
  });

  it('detects a graph that differs from the weights', async () => {
    const cfg = resolveConfig('tiny', { img_size: 32 });
    const weights = perturbedWeights(cfg, 1);
    const other = perturbedWeights(cfg, 2);
    const { x, t, dims } = verificationBatch(cfg, 2, 0);
    const ortOut = await runOrt(encodeModel(buildGraph(cfg, other).graph, {}), x, t, dims);
    const tfOut = await runTfjs(cfg, weights, x, t, dims);
    expect(maxAbsDiff(ortOut, tfOut)).toBeGreaterThan(VERIFY_TOLERANCE);
  });
});
