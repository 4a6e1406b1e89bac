// ORT output vs TF.js output for the same weights and inputs: every variant at full width and depth, scaled down in
// image size to keep CI fast, plus tiny at its seed size; batch 1 and 4; max abs error <= 1e-4 in fp32.
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '@liquidflow/core';
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

describe('ORT vs TF.js parity', () => {
  for (const { variant, img_size } of CASES) {
    it(`${variant} at ${img_size}px, batch 1 and 4`, async () => {
      const cfg = resolveConfig(variant, { img_size });
      const weights = perturbedWeights(cfg, 7);
      const bytes = encodeModel(buildGraph(cfg, weights).graph, {});
      for (const batch of [1, 4]) {
        const { x, t, dims } = verificationBatch(cfg, batch, batch);
        const ortOut = await runOrt(bytes, x, t, dims);
        const tfOut = await runTfjs(cfg, weights, x, t, dims);
        const maxRef = tfOut.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(maxRef, 'the output is not trivially small').toBeGreaterThan(0.1);
        expect(maxAbsDiff(ortOut, tfOut), `${variant} ${img_size}px batch ${batch}`).toBeLessThanOrEqual(VERIFY_TOLERANCE);
      }
    });
  }

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
