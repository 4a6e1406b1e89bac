// --verify: the exported graph on onnxruntime-node against the same weights in TensorFlow.js, on one random batch with
// t spread over [0, 1]. Reports the max absolute difference of the velocities.
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, type UpsampleGuidance, type Weights, ONNX_INPUT, ONNX_OUTPUT, Rng } from '@liquidflow/core';
import { TfModel, isWasmHeapExhausted } from '@liquidflow/tfjs';
import { type SizedWeights, guidedVelocity, lowResolutionInput } from './upsample-guidance.js';

export const VERIFY_TOLERANCE = 1e-4;

export interface VerifyResult {
  maxAbsErr: number;
  maxAbsRef: number;
  batch: number;
  t: number[];
}

/** A seeded batch: x ~ N(0, 1) [batch, C, H, W] and t evenly spaced over [0, 1]. */
export function verificationBatch(config: ModelConfig, batch: number, seed: number) {
  const n = batch * config.in_channels * config.img_size * config.img_size;
  const x = new Rng(seed, 0x5eed).fillNormal(new Float32Array(n));
  const t = Float32Array.from({ length: batch }, (_, i) => (batch === 1 ? 0.5 : i / (batch - 1)));
  return { x, t, dims: [batch, config.in_channels, config.img_size, config.img_size] };
}

export async function runOrt(modelBytes: Uint8Array, x: Float32Array, t: Float32Array, dims: number[], threads?: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelBytes, threads ? { intraOpNumThreads: threads } : {});
  try {
    const out = await session.run({ [ONNX_INPUT.image]: new ort.Tensor('float32', x, dims), [ONNX_INPUT.time]: new ort.Tensor('float32', t, [t.length]) });
    return out[ONNX_OUTPUT.velocity].data as Float32Array;
  } finally {
    await session.release();
  }
}

export async function runTfjs(config: ModelConfig, weights: Weights, x: Float32Array, t: Float32Array, dims: number[]): Promise<Float32Array> {
  const model = new TfModel(config, weights);
  let heapLost = false;
  try {
    const v = tf.tidy(() => model.forward(tf.tensor(x, dims), tf.tensor1d(t)));
    const data = (await v.data()) as Float32Array;
    v.dispose();
    return data;
  } catch (e) {
    if (!isWasmHeapExhausted(e)) throw e;
    heapLost = true; // the module is dead: disposing would fault and hide this error
    throw new Error(
      `the TF.js wasm backend ran out of its 4 GB heap running the reference model (${config.arch} ${config.img_size}px, batch ${dims[0]}): ` +
        `verify with a smaller --batch (for example --batch 1)`,
    );
  } finally {
    if (!heapLost) model.dispose();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`output sizes differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

export async function verifyExport(modelBytes: Uint8Array, config: ModelConfig, weights: Weights, batch = 4, seed = 0): Promise<VerifyResult> {
  const { x, t, dims } = verificationBatch(config, batch, seed);
  const ortOut = await runOrt(modelBytes, x, t, dims);
  const tfOut = await runTfjs(config, weights, x, t, dims);
  return { maxAbsErr: maxAbsDiff(ortOut, tfOut), maxAbsRef: tfOut.reduce((m, v) => Math.max(m, Math.abs(v)), 0), batch, t: Array.from(t) };
}

/**
 * --verify for a graph with upsample guidance: TF.js runs the model at both sizes (the trained size on the pooled,
 * rescaled input at tau) and the array form of the guidance formula combines them; t spans both sides of 1 - eta.
 */
export async function verifyGuidedExport(modelBytes: Uint8Array, trained: SizedWeights, large: SizedWeights, g: UpsampleGuidance, batch = 4, seed = 0): Promise<VerifyResult> {
  const { x, t, dims } = verificationBatch(large.config, batch, seed);
  const ortOut = await runOrt(modelBytes, x, t, dims);
  const v = await runTfjs(large.config, large.weights, x, t, dims);
  const low = lowResolutionInput(x, dims, t, g.factor);
  const u = await runTfjs(trained.config, trained.weights, low.y, low.tau, low.dims);
  const ref = guidedVelocity(v, u, x, dims, t, g);
  return { maxAbsErr: maxAbsDiff(ortOut, ref), maxAbsRef: ref.reduce((m, r) => Math.max(m, Math.abs(r)), 0), batch, t: Array.from(t) };
}
