// The training loop's pure parts: learning-rate and physics warm-ups, the EMA decay schedule, deterministic batches
// (a function of (seed, step) alone), the position-table resampling of weak-to-strong init, the fixture's IDX format,
// and NonFiniteLossError from trainStep.
import { describe, expect, it } from 'vitest';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { liquidFlowDims, resolveConfig, resizePosEmbed, weightsForImageSize } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import {
  AdamW, DatasetError, MAX_IDX_BYTES, NonFiniteLossError, checkDecodedSize, emaDecayAt, epochOrder, learningRate, loadFashionMnist, makeBatch,
  parseIdxImages, explainWasmFailure, physicsWarmup, trainStep, type ImageDataset,
} from '@liquidflow/trainer';
import { idxImages, syntheticImages } from './helpers';

describe('learningRate: linear warm-up, constant, optional linear decay at the end', () => {
  it('ramps from peak/warmup at step 0 to peak at step warmup-1, then stays at peak', () => {
    expect(learningRate(0, 10, 1e-3)).toBeCloseTo(1e-4, 12);
    expect(learningRate(4, 10, 1e-3)).toBeCloseTo(5e-4, 12);
    expect(learningRate(9, 10, 1e-3)).toBe(1e-3);
    for (const s of [10, 11, 500, 1e6]) expect(learningRate(s, 10, 1e-3)).toBe(1e-3);
    for (let s = 1; s < 10; s++) expect(learningRate(s, 10, 1)).toBeGreaterThan(learningRate(s - 1, 10, 1));
  });

  it('no warm-up means the peak from step 0', () => {
    expect(learningRate(0, 0, 2e-4)).toBe(2e-4);
    expect(learningRate(7, 0, 2e-4)).toBe(2e-4);
  });

  it('--lr_decay_steps: linear to 0 over the last steps of the run, the same before it whatever the run length', () => {
    // total 100, decay 20: steps 0-79 as without decay; step 80 at the peak, then 19/20 ... 1/20 at step 99.
    for (const s of [0, 5, 10, 50, 79]) expect(learningRate(s, 10, 1e-3, 20, 100)).toBe(learningRate(s, 10, 1e-3));
    expect(learningRate(80, 10, 1e-3, 20, 100)).toBe(1e-3);
    expect(learningRate(90, 10, 1e-3, 20, 100)).toBeCloseTo(5e-4, 12);
    expect(learningRate(99, 10, 1e-3, 20, 100)).toBeCloseTo(5e-5, 12);
    for (let s = 81; s < 100; s++) expect(learningRate(s, 10, 1)).toBeGreaterThan(learningRate(s, 10, 1, 20, 100));
    for (let s = 81; s < 100; s++) expect(learningRate(s, 10, 1, 20, 100)).toBeLessThan(learningRate(s - 1, 10, 1, 20, 100));
    // A decay longer than the run overlaps the warm-up: the smaller factor wins.
    expect(learningRate(0, 10, 1, 100, 50)).toBeCloseTo(0.1, 12);
    expect(learningRate(40, 10, 1, 100, 50)).toBeCloseTo(0.1, 12);
  });
});

describe('physicsWarmup: 0 -> 1 linearly', () => {
  it('is 0 at step 0, linear, 1 from the warm-up on, never above 1', () => {
    expect(physicsWarmup(0, 500)).toBe(0);
    expect(physicsWarmup(125, 500)).toBe(0.25);
    expect(physicsWarmup(250, 500)).toBe(0.5);
    expect(physicsWarmup(500, 500)).toBe(1);
    expect(physicsWarmup(10_000, 500)).toBe(1);
    for (let s = 1; s <= 500; s += 37) expect(physicsWarmup(s, 500)).toBeGreaterThan(physicsWarmup(s - 1, 500));
  });

  it('no warm-up means full weight from step 0', () => {
    expect(physicsWarmup(0, 0)).toBe(1);
    expect(physicsWarmup(3, 0)).toBe(1);
  });
});

describe('emaDecayAt: warm-up of the decay', () => {
  it('starts at 0.1, grows monotonically, never exceeds the configured decay and reaches it', () => {
    expect(emaDecayAt(0.9995, 0)).toBeCloseTo(0.1, 12);
    let prev = 0;
    for (let s = 0; s < 50_000; s += 97) {
      const d = emaDecayAt(0.9995, s);
      expect(d).toBeGreaterThanOrEqual(prev);
      expect(d).toBeLessThanOrEqual(0.9995);
      expect(d).toBeGreaterThan(0);
      prev = d;
    }
    expect(emaDecayAt(0.9995, 1e6)).toBe(0.9995);
    expect(emaDecayAt(0.5, 0)).toBeCloseTo(0.1, 12);
    expect(emaDecayAt(0.5, 100)).toBe(0.5);
    expect(emaDecayAt(0, 100)).toBe(0);
  });
});

/** A dataset whose every image is unique and left-right asymmetric: pixel (y, x, c) = f(index, y, x, c). */
function asymmetricDataset(count: number, size = 8): ImageDataset {
  const pixels = new Uint8Array(count * size * size * 3);
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) pixels[((i * size + y) * size + x) * 3 + c] = c === 0 ? i : c === 1 ? x * 30 : (y * 7 + x * x) % 256;
      }
    }
  }
  return { name: 'synthetic', source: 'memory', size, count, pixels };
}

/** Which dataset image (by its red channel = index) and whether mirrored, for batch entry k. */
function identify(x0: Float32Array, k: number, size: number): { index: number; mirrored: boolean } {
  const plane = size * size;
  const red = Math.round((x0[(k * 3 + 0) * plane] + 1) * 127.5);
  const greenLeft = Math.round((x0[(k * 3 + 1) * plane] + 1) * 127.5); // x * 30 at column 0
  return { index: red, mirrored: greenLeft !== 0 };
}

describe('makeBatch: a function of (seed, step) alone', () => {
  const ds = asymmetricDataset(40);

  it('the same (seed, step) gives an identical batch; another step or seed a different one', () => {
    const a = makeBatch(ds, 5, 17, 8);
    epochOrder(5, 99, ds.count); // touch another epoch's order in between (the cache keeps only one)
    makeBatch(ds, 6, 3, 8);
    const b = makeBatch(ds, 5, 17, 8);
    expect(Buffer.from(b.x0.buffer).equals(Buffer.from(a.x0.buffer))).toBe(true);
    expect(Buffer.from(b.noise.buffer).equals(Buffer.from(a.noise.buffer))).toBe(true);
    expect(Buffer.from(b.t.buffer).equals(Buffer.from(a.t.buffer))).toBe(true);
    expect(b.epoch).toBe(a.epoch);
    const c = makeBatch(ds, 5, 18, 8);
    const d = makeBatch(ds, 6, 17, 8);
    expect(Buffer.from(c.noise.buffer).equals(Buffer.from(a.noise.buffer))).toBe(false);
    expect(Buffer.from(d.noise.buffer).equals(Buffer.from(a.noise.buffer))).toBe(false);
    expect(Array.from(c.t)).not.toEqual(Array.from(a.t));
  });

  it('values: x0 in [-1, 1] with the documented mapping, t in [0, 1), noise ~ N(0, 1)', () => {
    const b = makeBatch(ds, 1, 0, 16);
    expect(b.x0.length).toBe(16 * 3 * 8 * 8);
    expect(b.noise.length).toBe(b.x0.length);
    expect(b.t.length).toBe(16);
    let min = Infinity;
    let max = -Infinity;
    for (const v of b.x0) (min = Math.min(min, v)), (max = Math.max(max, v));
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(min).toBe(-1); // pixel 0 exists (green channel at x = 0)
    for (const t of b.t) expect(t >= 0 && t < 1).toBe(true);
    const mean = b.noise.reduce((s, v) => s + v, 0) / b.noise.length;
    const variance = b.noise.reduce((s, v) => s + (v - mean) ** 2, 0) / b.noise.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(variance - 1)).toBeLessThan(0.15);
  });

  it('flips happen about half the time, mirror the image exactly, and never with flip=false', () => {
    const B = 8;
    let flips = 0;
    let total = 0;
    for (let step = 0; step < 60; step++) {
      const on = makeBatch(ds, 2, step, B, true);
      const off = makeBatch(ds, 2, step, B, false);
      // The noise has its own stream (t shares the flip stream, so --flip changes t: flip is part of the saved run).
      expect(Buffer.from(on.noise.buffer).equals(Buffer.from(off.noise.buffer))).toBe(true);
      for (let k = 0; k < B; k++) {
        const a = identify(on.x0, k, 8);
        const b = identify(off.x0, k, 8);
        expect(a.index).toBe(b.index); // same image order
        expect(b.mirrored).toBe(false);
        if (a.mirrored) {
          flips++;
          // Exactly the mirror image of the unflipped entry.
          const plane = 64;
          for (let c = 0; c < 3; c++) {
            for (let y = 0; y < 8; y++) {
              for (let x = 0; x < 8; x++) expect(on.x0[(k * 3 + c) * plane + y * 8 + x]).toBe(off.x0[(k * 3 + c) * plane + y * 8 + (7 - x)]);
            }
          }
        } else {
          expect(Array.from(on.x0.subarray(k * 192, (k + 1) * 192))).toEqual(Array.from(off.x0.subarray(k * 192, (k + 1) * 192)));
        }
        total++;
      }
    }
    expect(flips / total).toBeGreaterThan(0.4);
    expect(flips / total).toBeLessThan(0.6);
  });

  it('each epoch visits every image exactly once, in an order that is a permutation that changes per epoch and seed', () => {
    const B = 8; // 40 images = 5 steps per epoch
    for (const epoch of [0, 1, 2]) {
      const seen: number[] = [];
      for (let s = epoch * 5; s < epoch * 5 + 5; s++) {
        const b = makeBatch(ds, 9, s, B, false);
        expect(b.epoch).toBe(epoch);
        for (let k = 0; k < B; k++) seen.push(identify(b.x0, k, 8).index);
      }
      expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(seen).toEqual(Array.from(epochOrder(9, epoch, 40)));
    }
    const order = (seed: number, epoch: number) => Array.from(epochOrder(seed, epoch, 40));
    expect(order(9, 0)).not.toEqual(order(9, 1));
    expect(order(9, 0)).not.toEqual(order(10, 0));
    expect(order(9, 0)).not.toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(order(9, 1)).toEqual(order(9, 1));
  });

  it('a batch that straddles an epoch boundary takes the rest of one epoch and the start of the next', () => {
    const b = makeBatch(ds, 4, 3, 12, false); // items 36..47: 36..39 of epoch 0, 0..7 of epoch 1
    const ids = Array.from({ length: 12 }, (_, k) => identify(b.x0, k, 8).index);
    expect(ids.slice(0, 4)).toEqual(Array.from(epochOrder(4, 0, 40).slice(36, 40)));
    expect(ids.slice(4)).toEqual(Array.from(epochOrder(4, 1, 40).slice(0, 8)));
    expect(b.epoch).toBe(1);
  });
});

describe('resizePosEmbed (weak-to-strong init)', () => {
  it('the same grid is the identity', () => {
    const table = Float32Array.from({ length: 4 * 4 * 3 }, (_, i) => Math.sin(i));
    expect(Array.from(resizePosEmbed(table, 4, 4, 3))).toEqual(Array.from(table));
  });

  it('a constant table stays constant (per channel)', () => {
    const dim = 5;
    const table = new Float32Array(4 * 4 * dim);
    for (let p = 0; p < 16; p++) for (let d = 0; d < dim; d++) table[p * dim + d] = d - 1.5;
    const out = resizePosEmbed(table, 4, 8, dim);
    expect(out.length).toBe(8 * 8 * dim);
    for (let p = 0; p < 64; p++) for (let d = 0; d < dim; d++) expect(out[p * dim + d]).toBeCloseTo(d - 1.5, 6);
  });

  it('a 2x upsample of a linear ramp stays monotone in x and y and within the ramp range', () => {
    const from = 4;
    const to = 8;
    const table = new Float32Array(from * from * 2);
    for (let y = 0; y < from; y++) {
      for (let x = 0; x < from; x++) {
        table[(y * from + x) * 2] = x; // channel 0: ramp in x
        table[(y * from + x) * 2 + 1] = 10 * y; // channel 1: ramp in y
      }
    }
    const out = resizePosEmbed(table, from, to, 2);
    const at = (y: number, x: number, d: number) => out[(y * to + x) * 2 + d];
    for (let y = 0; y < to; y++) {
      for (let x = 0; x < to; x++) {
        if (x > 0) expect(at(y, x, 0)).toBeGreaterThanOrEqual(at(y, x - 1, 0));
        if (y > 0) expect(at(y, x, 1)).toBeGreaterThanOrEqual(at(y - 1, x, 1));
        expect(at(y, x, 0)).toBe(at(0, x, 0)); // the x ramp does not depend on y
        expect(at(y, x, 1)).toBe(at(y, 0, 1));
      }
    }
    expect(at(0, 0, 0)).toBe(0);
    expect(at(0, to - 1, 0)).toBe(from - 1);
    expect(at(to - 1, 0, 1)).toBe(10 * (from - 1));
    expect(at(0, to - 1, 0)).toBeGreaterThan(at(0, 0, 0));
    // Cell centres align: new columns 1 and 2 sit a quarter cell either side of old column 0.5's midpoint.
    expect(at(0, 1, 0)).toBeCloseTo(0.25, 6);
    expect(at(0, 2, 0)).toBeCloseTo(0.75, 6);
  });

  it('weightsForImageSize resamples only pos_embed, to the new token count', () => {
    const small = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
    const big = { ...small, img_size: 32 };
    const w = freshCheckpoint(small, 1).weights;
    const out = weightsForImageSize(w, small, big);
    expect(out.pos_embed.length).toBe(liquidFlowDims(big).tokens * small.dim);
    for (const k of Object.keys(w)) if (k !== 'pos_embed') expect(out[k]).toBe(w[k]);
    expect(Array.from(out.pos_embed)).toEqual(Array.from(resizePosEmbed(w.pos_embed, 4, 8, small.dim)));
  });
});

describe('Fashion-MNIST IDX fixture (the real on-disk format)', () => {
  it('parseIdxImages reads the header big-endian and rejects a wrong magic or a short file', () => {
    const bytes = idxImages(syntheticImages(3), 3, 28, 28);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 8, 3, 0, 0, 0, 3]);
    const r = parseIdxImages(bytes, 'x.idx');
    expect([r.count, r.rows, r.cols, r.pixels.length]).toEqual([3, 28, 28, 3 * 28 * 28]);
    const bad = bytes.slice();
    bad[3] = 1;
    expect(() => parseIdxImages(bad, 'x.idx')).toThrow(/x\.idx: not an IDX uint8 image file \(magic 0x801/);
    expect(() => parseIdxImages(bytes.subarray(0, 100), 'x.idx')).toThrow(/x\.idx: truncated: 100 bytes/);
    expect(() => parseIdxImages(bytes.subarray(0, 10), 'x.idx')).toThrow(/too short/);
  });

  it('a header claiming more images than the file holds names the claim and what the file holds', () => {
    const bytes = idxImages(syntheticImages(3), 3, 28, 28);
    new DataView(bytes.buffer).setUint32(4, 4_000_000_000); // billions of images in a 2 KB file
    const e = (() => {
      try {
        parseIdxImages(bytes, 'x.idx');
      } catch (err) {
        return err as Error;
      }
      throw new Error('parseIdxImages accepted the header');
    })();
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toContain('x.idx');
    expect(e.message).toContain('4000000000 images of 28x28');
    expect(e.message).toContain('the file holds 3');
  });

  it('a header describing 0x0 images (or 0 images) is refused, not trained on as blanks', () => {
    for (const [count, rows, cols, what] of [[1_000_000, 0, 0, '0x0 pixels'], [5, 28, 0, '28x0 pixels'], [0, 28, 28, '0 images']] as const) {
      const bytes = idxImages(new Uint8Array(0), count, rows, cols);
      expect(() => parseIdxImages(bytes, 'x.idx')).toThrow(DatasetError);
      expect(() => parseIdxImages(bytes, 'x.idx')).toThrow(new RegExp(`^x\\.idx: header describes .*${what}`));
    }
  });

  it('a dataset whose decoded pixels exceed the memory is refused before allocating, naming count, size and bytes', () => {
    expect(() => checkDecodedSize(60000, 128, 'f.idx', 1e9)).toThrow(/f\.idx: 60000 images at 128x128 need 2949120000 bytes.*1000000000/);
    expect(() => checkDecodedSize(60000, 28, 'f.idx', 1e9)).not.toThrow();
  });

  it('loadFashionMnist refuses a gzip that decompresses to more than the IDX limit (a gzip bomb)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'liquidflow-idx-'));
    try {
      // MAX_IDX_BYTES + 1 of zeros compresses to ~0.5 MB; built in streamed chunks so the test itself stays small.
      const gz = createGzip({ level: 1 });
      const chunks: Buffer[] = [];
      gz.on('data', (c: Buffer) => chunks.push(c));
      const done = new Promise((r) => gz.on('end', r));
      const zeros = Buffer.alloc(2 ** 24);
      for (let i = 0; i < MAX_IDX_BYTES / zeros.length; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
      gz.end(Buffer.alloc(1));
      await done;
      await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), Buffer.concat(chunks));
      await expect(loadFashionMnist(16, dir)).rejects.toThrow(/train-images-idx3-ubyte\.gz: decompresses to more than the limit of 536870912 bytes/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('loadFashionMnist decodes the gzipped fixture, inverted and replicated to RGB at the training size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'liquidflow-idx-'));
    try {
      const raw = idxImages(syntheticImages(5), 5, 28, 28);
      await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(raw));
      expect(gunzipSync(gzipSync(raw)).equals(Buffer.from(raw))).toBe(true);
      const ds = await loadFashionMnist(28, dir);
      expect(ds.count).toBe(5);
      expect(ds.size).toBe(28);
      for (let p = 0; p < 28 * 28; p += 41) {
        for (let c = 0; c < 3; c++) expect(ds.pixels[p * 3 + c]).toBe(255 - raw[16 + p]);
      }
      const small = await loadFashionMnist(16, dir);
      expect(small.pixels.length).toBe(5 * 16 * 16 * 3);
      await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), 'not gzip');
      await expect(loadFashionMnist(16, dir)).rejects.toThrow(/train-images-idx3-ubyte\.gz: not a valid gzip file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('trainStep and a non-finite loss', () => {
  it('throws NonFiniteLossError with the loss parts and does not update the weights', async () => {
    await tf.setBackend('cpu');
    const cfg = resolveConfig('tiny', { img_size: 8, dim: 16, depth: 1, head_dim: 8, d_state: 4, time_freq_dim: 16 });
    const weights = freshCheckpoint(cfg, 0).weights;
    const huge = Object.keys(weights).find((k) => k.startsWith('patch_embed') && k.endsWith('weight')) ?? Object.keys(weights)[0];
    weights[huge] = weights[huge].map(() => 3e38);
    const model = new TfModel(cfg, weights);
    const opt = new AdamW(model.variables);
    let applied = 0;
    const spy = { apply: (g: Record<string, tf.Tensor>, lr?: number) => (applied++, opt.apply(g, lr)) };
    const x0 = tf.zeros([2, 3, 8, 8]);
    const noise = tf.ones([2, 3, 8, 8]);
    const t = tf.tensor1d([0.3, 0.7]);
    tf.tidy(() => void model.forward(x0, t)); // first forward builds the ops' caches (not a leak)
    const before = await model.weights();
    const startTensors = tf.memory().numTensors;
    let err: unknown;
    try {
      trainStep(model, spy, x0, noise, t, { smooth: 1, tv: 1 }, 1e-3);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteLossError);
    const e = err as NonFiniteLossError;
    expect(Number.isFinite(e.value)).toBe(false);
    expect(e.message).toMatch(/^loss is (NaN|Infinity|-Infinity) \(flow /);
    expect(Number.isFinite(e.parts.flow)).toBe(false);
    expect(applied).toBe(0);
    expect(opt.step).toBe(0);
    expect(tf.memory().numTensors).toBe(startTensors); // nothing leaked by the throw inside tidy
    const after = await model.weights();
    for (const k of Object.keys(before)) expect(after[k]).toEqual(before[k]);
    tf.dispose([x0, noise, t]);
    model.dispose();
    opt.dispose();
  });
});

describe('explainWasmFailure: a wasm heap exhausted by a training step', () => {
  const cfg = resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 32 });
  it("turns XNNPACK's abort into the cause and the two ways out", () => {
    // The message TF.js's wasm backend gave for liquiddiffusion tiny at 32 px, batch 16 (batch 8 fits).
    const e = explainWasmFailure(new Error('memory access out of bounds'), 'wasm', cfg, 16) as Error;
    expect(e.message).toBe(
      'the wasm backend ran out of memory in a training step (liquiddiffusion tiny 32px at --batch_size 16; its heap is one ' +
        'wasm32 memory of at most 4 GB): lower --batch_size or use --backend ort, which has no such limit (memory access out of bounds)',
    );
  });
  it('passes other errors, and any error on other backends, through unchanged', () => {
    const other = new Error('shapes do not match');
    expect(explainWasmFailure(other, 'wasm', cfg, 16)).toBe(other);
    const oom = new Error('memory access out of bounds');
    expect(explainWasmFailure(oom, 'cpu', cfg, 16)).toBe(oom);
  });
});
