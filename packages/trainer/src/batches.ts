// Deterministic batches: the data order, flips, noise and t of step s are functions of (seed, s) alone, so a resumed
// run draws exactly what an uninterrupted one would have, with no RNG state to save.
import { Rng } from '@liquidflow/core';
import type { ImageDataset } from './datasets/dataset.js';

const ORDER_STREAM = 0x0de;
const STEP_STREAM = 0x57e9;

const permutations = new Map<string, Uint32Array>();

/** The shuffled order of an epoch (Fisher-Yates with the epoch's own stream). */
export function epochOrder(seed: number, epoch: number, count: number): Uint32Array {
  const key = `${seed}:${epoch}:${count}`;
  let p = permutations.get(key);
  if (!p) {
    p = new Uint32Array(count);
    for (let i = 0; i < count; i++) p[i] = i;
    const rng = new Rng(seed, ORDER_STREAM + epoch * 7919);
    for (let i = count - 1; i > 0; i--) {
      const j = rng.nextUint32() % (i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    permutations.clear(); // only the current epoch is ever needed
    permutations.set(key, p);
  }
  return p;
}

export interface Batch {
  /** [B, 3, S, S] in [-1, 1] */
  x0: Float32Array;
  noise: Float32Array;
  t: Float32Array;
  epoch: number;
}

export function makeBatch(ds: ImageDataset, seed: number, step: number, batchSize: number, flip = true): Batch {
  const s = ds.size;
  const plane = s * s;
  const x0 = new Float32Array(batchSize * 3 * plane);
  const rng = new Rng(seed, STEP_STREAM + step * 2);
  let epoch = 0;
  for (let k = 0; k < batchSize; k++) {
    const g = step * batchSize + k;
    epoch = Math.floor(g / ds.count);
    const idx = epochOrder(seed, epoch, ds.count)[g % ds.count];
    const mirror = flip && rng.uniform() < 0.5;
    const src = idx * plane * 3;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const sx = mirror ? s - 1 - x : x;
        const p = src + (y * s + sx) * 3;
        for (let c = 0; c < 3; c++) x0[(k * 3 + c) * plane + y * s + x] = ds.pixels[p + c] / 127.5 - 1;
      }
    }
  }
  const noise = new Rng(seed, STEP_STREAM + step * 2 + 1).fillNormal(new Float32Array(x0.length));
  const t = Float32Array.from({ length: batchSize }, () => rng.uniform());
  return { x0, noise, t, epoch };
}
