// The parallel, chunked selective scan (what TF.js trains and ONNX exports) against the plain sequential recurrence in
// float64 (selective-scan-reference.ts). Run through the TF.js executor on the 'cpu' backend.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Rng, chunkLength, selectiveScan, sequentialScan, type ScanInputs } from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';
import { relErr } from './helpers.js';

const TOL = 1e-5;

interface Case {
  batch: number;
  len: number;
  heads: number;
  headDim: number;
  state: number;
  seed: number;
  /** dt in [lo, hi], drawn log-uniformly. */
  dtRange?: [number, number];
}

function makeInputs(c: Case): ScanInputs {
  const rng = new Rng(c.seed, 7);
  const { batch, len, heads, headDim, state } = c;
  const inner = heads * headDim;
  const x = rng.fillNormal(new Float32Array(batch * len * inner));
  const B = rng.fillNormal(new Float32Array(batch * len * state));
  const C = rng.fillNormal(new Float32Array(batch * len * state));
  const [lo, hi] = c.dtRange ?? [1e-3, 1e-1];
  const dt = new Float32Array(batch * len * heads);
  for (let i = 0; i < dt.length; i++) dt[i] = Math.exp(Math.log(lo) + rng.uniform() * (Math.log(hi) - Math.log(lo)));
  // A = -exp(a_log), a_log = log of a value in [1, 16] as in Mamba's init.
  const A = new Float32Array(heads);
  for (let h = 0; h < heads; h++) A[h] = -Math.exp(Math.log(1 + 15 * rng.uniform()));
  return { batch, len, heads, headDim, state, x, dt, A, B, C };
}

function parallelScan(s: ScanInputs): Float32Array {
  const ops = new TfOps(new Map());
  return tf.tidy(() => {
    const inner = s.heads * s.headDim;
    const y = selectiveScan(
      ops,
      tf.tensor3d(s.x, [s.batch, s.len, inner]),
      tf.tensor3d(s.dt, [s.batch, s.len, s.heads]),
      tf.tensor1d(s.A),
      tf.tensor3d(s.B, [s.batch, s.len, s.state]),
      tf.tensor3d(s.C, [s.batch, s.len, s.state]),
      s.heads,
    );
    expect(y.shape).toEqual([s.batch, s.len, inner]);
    return y.dataSync() as Float32Array;
  });
}

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  await tf.ready();
});

describe('chunkLength', () => {
  it('is a power of two with Q^2 >= L, and the smallest such', () => {
    for (let L = 1; L <= 5000; L++) {
      const q = chunkLength(L);
      expect(Number.isInteger(Math.log2(q))).toBe(true);
      expect(q * q).toBeGreaterThanOrEqual(L);
      if (q > 1) expect((q / 2) * (q / 2)).toBeLessThan(L);
    }
  });
});

describe('selectiveScan (chunked, TF.js cpu) matches the sequential float64 recurrence', () => {
  const cases: Case[] = [
    { batch: 2, len: 1, heads: 2, headDim: 4, state: 4, seed: 1 },
    { batch: 2, len: 5, heads: 2, headDim: 5, state: 8, seed: 2 },
    { batch: 2, len: 64, heads: 2, headDim: 8, state: 16, seed: 3 },
    { batch: 2, len: 100, heads: 2, headDim: 6, state: 16, seed: 4 }, // Q = 16, 7 chunks: padded to 112
    // pad_tokens 3 grids: 8+3 squared (Q = 16, padded to 128) and 32+3 squared (Q = 64, 20 chunks: padded to 1280)
    { batch: 2, len: 121, heads: 2, headDim: 4, state: 8, seed: 6 },
    { batch: 1, len: 1225, heads: 2, headDim: 4, state: 8, seed: 7 },
    { batch: 2, len: 4096, heads: 2, headDim: 8, state: 16, seed: 5 },
  ];
  for (const c of cases) {
    const q = chunkLength(c.len);
    it(`L=${c.len} (Q=${q}, ${Math.ceil(c.len / q)} chunks${c.len % q ? ', padded' : ''}), P=${c.headDim}, N=${c.state}`, () => {
      const s = makeInputs(c);
      const ref = sequentialScan(s);
      const { err, finite, refMax } = relErr(parallelScan(s), ref);
      expect(finite).toBe(true);
      expect(refMax).toBeGreaterThan(0);
      expect(err).toBeLessThan(TOL);
    });
  }

  it('extreme delta: dt in 1e-4..50 (decays underflow to 0 next to tiny ones) stays finite and accurate', () => {
    for (const len of [100, 1024]) {
      const s = makeInputs({ batch: 2, len, heads: 2, headDim: 8, state: 16, seed: 11, dtRange: [1e-4, 50] });
      // Make sure the case really is extreme: some steps decay by exp(-hundreds) (0 in float32), some barely decay.
      let maxRate = 0;
      let minRate = Infinity;
      for (let i = 0; i < s.dt.length; i++) {
        const rate = s.dt[i] * -s.A[i % s.heads];
        maxRate = Math.max(maxRate, rate);
        minRate = Math.min(minRate, rate);
      }
      expect(maxRate).toBeGreaterThan(100);
      expect(Math.fround(Math.exp(-maxRate))).toBe(0);
      expect(minRate).toBeLessThan(1e-2);
      const ref = sequentialScan(s);
      const { err, finite } = relErr(parallelScan(s), ref);
      expect(finite).toBe(true);
      expect(err).toBeLessThan(TOL);
    }
  });

  it('long runs of tiny dt within and across chunks (state carried over many chunks) stay accurate', () => {
    // dt tiny everywhere: the state barely decays, so what a token sees is dominated by the carry from far-away chunks.
    const s = makeInputs({ batch: 2, len: 1000, heads: 2, headDim: 4, state: 8, seed: 12, dtRange: [1e-4, 1e-3] });
    const { err, finite } = relErr(parallelScan(s), sequentialScan(s));
    expect(finite).toBe(true);
    expect(err).toBeLessThan(TOL);
  });

  it('does not depend on how chunks fall: a prefix of a longer scan equals the scan of the prefix', () => {
    // L=100 runs with Q=16 (padded to 112); L=300 with Q=32 (padded to 320). The first 100 outputs of a causal scan
    // depend only on the first 100 inputs, so both must agree with each other and with the reference.
    const long = makeInputs({ batch: 2, len: 300, heads: 2, headDim: 4, state: 8, seed: 13 });
    const inner = long.heads * long.headDim;
    const L = 100;
    const prefix: ScanInputs = {
      ...long,
      len: L,
      x: new Float32Array(2 * L * inner),
      dt: new Float32Array(2 * L * long.heads),
      B: new Float32Array(2 * L * long.state),
      C: new Float32Array(2 * L * long.state),
    };
    for (let b = 0; b < 2; b++) {
      prefix.x.set(long.x.subarray(b * 300 * inner, (b * 300 + L) * inner), b * L * inner);
      prefix.dt.set(long.dt.subarray(b * 300 * long.heads, (b * 300 + L) * long.heads), b * L * long.heads);
      prefix.B.set(long.B.subarray(b * 300 * long.state, (b * 300 + L) * long.state), b * L * long.state);
      prefix.C.set(long.C.subarray(b * 300 * long.state, (b * 300 + L) * long.state), b * L * long.state);
    }
    expect(chunkLength(L)).not.toBe(chunkLength(300));
    const yLong = parallelScan(long);
    const yShort = parallelScan(prefix);
    const refShort = sequentialScan(prefix);
    const yLongPrefix = new Float32Array(2 * L * inner);
    for (let b = 0; b < 2; b++) yLongPrefix.set(yLong.subarray(b * 300 * inner, (b * 300 + L) * inner), b * L * inner);
    expect(relErr(yShort, refShort).err).toBeLessThan(TOL);
    expect(relErr(yLongPrefix, refShort).err).toBeLessThan(TOL);
  });

  it('batch entries are independent', () => {
    const s = makeInputs({ batch: 2, len: 50, heads: 2, headDim: 4, state: 4, seed: 14 });
    const y = parallelScan(s);
    const inner = s.heads * s.headDim;
    // Run batch entry 1 alone.
    const one: ScanInputs = {
      ...s,
      batch: 1,
      x: s.x.slice(50 * inner),
      dt: s.dt.slice(50 * s.heads),
      B: s.B.slice(50 * s.state),
      C: s.C.slice(50 * s.state),
    };
    const y1 = parallelScan(one);
    const ref1 = sequentialScan(one);
    expect(relErr(y.slice(50 * inner), ref1).err).toBeLessThan(TOL);
    expect(relErr(y1, ref1).err).toBeLessThan(TOL);
  });
});
