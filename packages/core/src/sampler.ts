// The sampler core shared by every runtime (ORT in Node, ORT in browsers, TF.js in the trainer): Euler or Heun
// integration of the rectified-flow ODE from t = 1 (noise) to t = 0 (image), seeded noise, progress and cancellation.
// It sees the model only as a velocity function over plain arrays, so each runtime adds nothing but how to call it.
import { NOISE_T, DATA_T } from './flow.js';
import { Rng } from './prng.js';

/** v(x_t, t) for a batch: x [N, C, H, W] and t [N] as flat float32 arrays. */
export type VelocityFn = (x: Float32Array, t: Float32Array, shape: readonly [number, number, number, number]) => Promise<Float32Array>;

export type SamplerName = 'euler' | 'heun';
export const SAMPLERS: readonly SamplerName[] = ['euler', 'heun'];

export interface SampleProgress {
  /** Steps done so far (1..total). */
  step: number;
  total: number;
  /** Milliseconds since sampling started. */
  elapsed: number;
  /** The current estimate of the final image x0 = x_t - t v, in model space [-1, 1] (only when asked for). */
  preview?: Float32Array;
}

export interface SampleOptions {
  count: number;
  channels: number;
  size: number;
  /** Integration steps (default 25). Heun evaluates the model twice per step. */
  steps?: number;
  sampler?: SamplerName;
  /** Seed of the initial noise; the same seed gives the same image on every platform. */
  seed?: number;
  onProgress?: (p: SampleProgress) => void;
  /** Also compute the x0 preview on every step (costs one pass over the batch). */
  preview?: boolean;
  signal?: AbortSignal;
  /** The model's file or URL, named in errors. */
  model?: string;
}

/** What a runtime's generate() takes: the sampling options without the image shape, which comes from the model. */
export interface GenerateOptions extends Omit<SampleOptions, 'count' | 'channels' | 'size' | 'model'> {
  /** Images to generate (default 1). */
  count?: number;
}

/** The part of GenerateOptions that crosses to a worker thread (no callbacks, no signal). */
export interface SamplingRequest {
  count: number;
  steps?: number;
  sampler?: SamplerName;
  seed?: number;
  preview: boolean;
}

export const DEFAULT_STEPS = 25;

/** The initial noise for a seed: N(0, 1), one stream per seed, identical in Node and browsers. */
export function initialNoise(seed: number, length: number): Float32Array {
  return new Rng(seed >>> 0, 0x6e6f6973).fillNormal(new Float32Array(length));
}

/** Evenly spaced times from NOISE_T down to DATA_T (steps + 1 values). */
export function timeGrid(steps: number): number[] {
  return Array.from({ length: steps + 1 }, (_, i) => NOISE_T + ((DATA_T - NOISE_T) * i) / steps);
}

export class SamplingAbortedError extends Error {
  override name = 'AbortError';
  constructor() {
    super('sampling was cancelled');
  }
}

/** The sampled images hold NaN or Inf: they would encode as black or garbage pixels without a word. */
export class NonFiniteOutputError extends Error {
  override name = 'NonFiniteOutputError';
}

/** Throws NonFiniteOutputError when x [count, ...] holds a NaN or an infinity, saying how many and in which images. */
export function checkFinite(x: Float32Array, count: number, model = 'model'): void {
  let nan = 0;
  let inf = 0;
  const per = x.length / count;
  const images = new Set<number>();
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) {
      if (Number.isNaN(v)) nan++;
      else inf++;
      images.add(Math.floor(i / per) + 1);
    }
  }
  if (nan + inf === 0) return;
  const which = [...images].slice(0, 8).join(', ') + (images.size > 8 ? ', ...' : '');
  throw new NonFiniteOutputError(
    `${model}: the model produced ${nan} NaN and ${inf} infinite values (in image${images.size > 1 ? 's' : ''} ${which} of ${count}), ` +
      'which would be black images; its weights probably hold NaN or Inf (for example from a diverged training run)',
  );
}

/** Images per generate() call: the whole batch and its noise are held at once. */
export const MAX_COUNT = 1024;
/** Integration steps: thousands already match the ODE to pixel precision; 1e9 only builds a 1e9-entry time grid. */
export const MAX_STEPS = 10000;
/** count * channels * size^2 floats of the batch (1 GiB as float32): 341 images at 512 px, the count limit at 128 px. */
export const MAX_SAMPLE_VALUES = 2 ** 28;

/**
 * Checks sampling options before anything is allocated for them. `prefix` is put before each option's name in
 * messages: a CLI passes '--' so the error names its flag.
 */
export function checkSampleOptions(o: SampleOptions, prefix = ''): Required<Pick<SampleOptions, 'steps' | 'sampler' | 'seed'>> {
  const steps = o.steps ?? DEFAULT_STEPS;
  const sampler = o.sampler ?? 'euler';
  const seed = o.seed ?? 0;
  if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError(`${prefix}count must be a positive integer, got ${o.count}`);
  if (o.count > MAX_COUNT) throw new RangeError(`${prefix}count is ${o.count}, above the limit of ${MAX_COUNT} images per call`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${prefix}steps must be a positive integer, got ${steps}`);
  if (steps > MAX_STEPS) throw new RangeError(`${prefix}steps is ${steps}, above the limit of ${MAX_STEPS}`);
  if (!SAMPLERS.includes(sampler)) throw new RangeError(`${prefix}sampler must be one of ${SAMPLERS.join(', ')}, got '${sampler}'`);
  if (!Number.isInteger(seed)) throw new RangeError(`${prefix}seed must be an integer, got ${seed}`);
  const values = o.count * o.channels * o.size * o.size;
  if (values > MAX_SAMPLE_VALUES) {
    throw new RangeError(`${prefix}count ${o.count} at ${o.size}x${o.size}x${o.channels} is ${values} values, above the limit of ${MAX_SAMPLE_VALUES}; generate in smaller batches`);
  }
  return { steps, sampler, seed };
}

/**
 * Where the latents live and how they are updated. The default keeps them in Float32Arrays; a runtime can keep them
 * elsewhere (runtime-web keeps them on the GPU between steps) and reuse the same integration loop.
 */
export interface LatentOps<V> {
  fromArray(x: Float32Array): V | Promise<V>;
  /** a + h * b */
  axpy(a: V, h: number, b: V): V | Promise<V>;
  /** a + h * (b + c) */
  axpy2(a: V, h: number, b: V, c: V): V | Promise<V>;
  toArray(v: V): Float32Array | Promise<Float32Array>;
  dispose?(v: V): void;
  /**
   * Resolves once the work queued so far is done. Where calls only queue work (WebGPU), progress waits on this, so a
   * step is reported when it is computed, not when it is queued.
   */
  settle?(): Promise<void>;
}

export const ARRAY_LATENTS: LatentOps<Float32Array> = {
  fromArray: (x) => x,
  axpy: (a, h, b) => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] + h * b[i];
    return out;
  },
  axpy2: (a, h, b, c) => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] + h * (b[i] + c[i]);
    return out;
  },
  toArray: (v) => v,
};

/** The integration loop over any latent storage: velocity(x, t) returns v for the whole batch at time t. */
export async function sampleLatents<V>(ops: LatentOps<V>, velocity: (x: V, t: number) => Promise<V>, o: SampleOptions): Promise<Float32Array> {
  const { steps, sampler, seed } = checkSampleOptions(o);
  const free = (...vs: V[]) => vs.forEach((v) => ops.dispose?.(v));
  let x = await ops.fromArray(initialNoise(seed, o.count * o.channels * o.size * o.size));
  const ts = timeGrid(steps);
  const start = Date.now();
  try {
    for (let i = 0; i < steps; i++) {
      if (o.signal?.aborted) throw new SamplingAbortedError();
      const t = ts[i];
      const h = ts[i + 1] - t; // negative: time runs from 1 to 0
      const v = await velocity(x, t);
      let next = await ops.axpy(x, h, v);
      if (sampler === 'heun') {
        // Trapezoid: average the slope at both ends of the step (second order).
        if (o.signal?.aborted) {
          free(v, next);
          throw new SamplingAbortedError();
        }
        const v2 = await velocity(next, ts[i + 1]);
        free(next);
        next = await ops.axpy2(x, 0.5 * h, v, v2);
        free(v2);
      }
      if (o.onProgress) {
        await ops.settle?.();
        let preview: Float32Array | undefined;
        if (o.preview) {
          // x0 = x_t - t v is the model's current guess of the final image.
          const guess = await ops.axpy(x, -t, v);
          preview = (await ops.toArray(guess)).slice();
          free(guess);
        }
        o.onProgress({ step: i + 1, total: steps, elapsed: Date.now() - start, preview });
      }
      free(v, x);
      x = next;
    }
    const out = (await ops.toArray(x)).slice();
    // Checked once, on the result both runtimes read back anyway (the GPU path would pay a readback per step).
    checkFinite(out, o.count, o.model);
    return out;
  } finally {
    free(x);
  }
}

/** Integrates from noise to image; returns x0 [count, C, H, W] in model space (about [-1, 1]). */
export async function sample(velocity: VelocityFn, o: SampleOptions): Promise<Float32Array> {
  const shape = [o.count, o.channels, o.size, o.size] as const;
  return sampleLatents(ARRAY_LATENTS, (x, t) => velocity(x, new Float32Array(o.count).fill(t), shape), o);
}

/** Model space [-1, 1] NCHW -> per image, RGB floats in [0, 1] (HWC) and RGBA bytes. */
export function toImages(x: Float32Array, count: number, channels: number, size: number) {
  const per = channels * size * size;
  const plane = size * size;
  const images: { width: number; height: number; rgb: Float32Array; data: Uint8ClampedArray }[] = [];
  for (let n = 0; n < count; n++) {
    const rgb = new Float32Array(plane * 3);
    const data = new Uint8ClampedArray(plane * 4);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = x[n * per + (channels === 1 ? 0 : c) * plane + p];
        const u = Math.min(1, Math.max(0, (v + 1) / 2));
        rgb[p * 3 + c] = u;
        data[p * 4 + c] = Math.round(u * 255);
      }
      data[p * 4 + 3] = 255;
    }
    images.push({ width: size, height: size, rgb, data });
  }
  return images;
}

/** Tiles RGBA images into one grid image (columns default to ceil(sqrt(n))), with a gap of `pad` pixels. */
export function imageGrid(images: { width: number; height: number; data: Uint8ClampedArray }[], columns?: number, pad = 2) {
  const n = images.length;
  const cols = columns ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const w = images[0].width;
  const h = images[0].height;
  const width = cols * w + (cols + 1) * pad;
  const height = rows * h + (rows + 1) * pad;
  const data = new Uint8ClampedArray(width * height * 4).fill(255);
  images.forEach((img, i) => {
    const ox = pad + (i % cols) * (w + pad);
    const oy = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 4, (y + 1) * w * 4), ((oy + y) * width + ox) * 4);
  });
  return { width, height, data };
}
