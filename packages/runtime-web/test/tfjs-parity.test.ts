// runtime-web's sampler against the trainer's TF.js sampler on the same weights and seed: 10 Euler steps, max abs
// error <= 1e-3 in RGB [0, 1] (onnxruntime-web's WASM build in Node; the browser tests hold WebGPU and WASM in
// Chromium to the Node runtime, which is held to TF.js the same way).
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig, sample, toImages } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel, tfjsVelocity } from '@liquidflow/tfjs';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow } from '@liquidflow/runtime-web';
import { perturbedWeights } from '../../exporter/test/weights-fixture.js';

const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
const RUN = { count: 2, steps: 10, sampler: 'euler' as const, seed: 5 };

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('runtime-web vs the TF.js sampler', () => {
  it('gives the same images for the same weights and seed after 10 Euler steps', async () => {
    const weights = perturbedWeights(CONFIG, 4);
    const web = await LiquidFlow.load(exportBytes({ ...freshCheckpoint(CONFIG, 0), weights, ema: weights }).bytes, { device: 'wasm' });
    const got = toImages(await web.sampleLatents(RUN), RUN.count, 3, 16);
    await web.dispose();
    const model = new TfModel(CONFIG, weights);
    const want = toImages(await sample(tfjsVelocity(model), { ...RUN, channels: 3, size: 16 }), RUN.count, 3, 16);
    model.dispose();
    let err = 0;
    let spread = 0;
    for (let n = 0; n < RUN.count; n++) {
      for (let i = 0; i < want[n].rgb.length; i++) {
        err = Math.max(err, Math.abs(got[n].rgb[i] - want[n].rgb[i]));
        spread = Math.max(spread, Math.abs(want[n].rgb[i] - 0.5));
      }
    }
    expect(spread, 'the images are not flat').toBeGreaterThan(0.1);
    expect(err).toBeLessThanOrEqual(1e-3);
  });
});
