// Mamba-1's selective scan in its parallel form (selective-scan-channel.ts: unrolled chunks + a Hillis-Steele scan over
// chunk states) against the plain sequential recurrence in float64 (selective-scan-reference.ts), through the TF.js
// executor on the 'cpu' backend.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { CHANNEL_CHUNK, Rng, selectiveScanChannel, sequentialScanChannel, type ChannelScanInputs } from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';
import { relErr } from './helpers.js';

const TOL = 1e-5;

interface Case {
  batch: number;
  len: number;
  inner: number;
  state: number;
  seed: number;
  /** dt in [lo, hi], drawn log-uniformly. */
  dtRange?: [number, number];
}

function makeInputs(c: Case): ChannelScanInputs {
  const rng = new Rng(c.seed, 7);
  const { batch, len, inner, state } = c;
  const x = rng.fillNormal(new Float32Array(batch * len * inner));
  const B = rng.fillNormal(new Float32Array(batch * len * state));
  const C = rng.fillNormal(new Float32Array(batch * len * state));
  const [lo, hi] = c.dtRange ?? [1e-3, 1e-1];
  const dt = new Float32Array(batch * len * inner);
  for (let i = 0; i < dt.length; i++) dt[i] = Math.exp(Math.log(lo) + rng.uniform() * (Math.log(hi) - Math.log(lo)));
  // A = -exp(A_log) with Mamba-1's S4D-real init A_log = log(1..N), jittered so no two channels agree.
  const A = new Float32Array(inner * state);
  for (let i = 0; i < A.length; i++) A[i] = -((i % state) + 1) * (0.5 + rng.uniform());
  return { batch, len, inner, state, x, dt, A, B, C };
}

function parallelScan(s: ChannelScanInputs, chunk?: number): Float32Array {
  const ops = new TfOps(new Map());
  return tf.tidy(() => {
    const y = selectiveScanChannel(
      ops,
      tf.tensor3d(s.x, [s.batch, s.len, s.inner]),
      tf.tensor3d(s.dt, [s.batch, s.len, s.inner]),
      tf.tensor2d(s.A, [s.inner, s.state]),
      tf.tensor3d(s.B, [s.batch, s.len, s.state]),
      tf.tensor3d(s.C, [s.batch, s.len, s.state]),
      chunk,
    );
    expect(y.shape).toEqual([s.batch, s.len, s.inner]);
    return y.dataSync() as Float32Array;
  });
}

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  await tf.ready();
});

describe('selectiveScanChannel (TF.js cpu) matches the sequential float64 recurrence', () => {
  const cases: Case[] = [
    { batch: 2, len: 1, inner: 4, state: 4, seed: 1 },
    { batch: 2, len: 5, inner: 6, state: 8, seed: 2 }, // shorter than a chunk
    { batch: 2, len: 64, inner: 8, state: 16, seed: 3 },
    { batch: 2, len: 100, inner: 6, state: 16, seed: 4 }, // 13 chunks of 8: padded to 104
    { batch: 1, len: 4096, inner: 8, state: 16, seed: 5 }, // 512 chunks: 9 Hillis-Steele steps
  ];
  for (const c of cases) {
    it(`L=${c.len}, inner=${c.inner}, N=${c.state}, chunk ${CHANNEL_CHUNK}`, () => {
      const s = makeInputs(c);
      const { err, finite, refMax } = relErr(parallelScan(s), sequentialScanChannel(s));
      expect(finite).toBe(true);
      expect(refMax).toBeGreaterThan(0);
      expect(err).toBeLessThan(TOL);
    });
  }

  it('every chunk length gives the same answer (1: pure Hillis-Steele over tokens; 3: padded; 37 > L/2)', () => {
    const s = makeInputs({ batch: 2, len: 70, inner: 4, state: 8, seed: 6 });
    const ref = sequentialScanChannel(s);
    for (const chunk of [1, 2, 3, 8, 16, 37, 70, 128]) expect(relErr(parallelScan(s, chunk), ref).err).toBeLessThan(TOL);
  });

  it('extreme dt: 1e-4..50 (decays underflow to 0 next to tiny ones) stays finite and accurate', () => {
    for (const len of [100, 1024]) {
      const s = makeInputs({ batch: 2, len, inner: 4, state: 16, seed: 11, dtRange: [1e-4, 50] });
      let maxRate = 0;
      let minRate = Infinity;
      for (let i = 0; i < s.dt.length; i++) {
        for (let k = 0; k < s.state; k++) {
          const rate = s.dt[i] * -s.A[(i % s.inner) * s.state + k];
          maxRate = Math.max(maxRate, rate);
          minRate = Math.min(minRate, rate);
        }
      }
      expect(maxRate).toBeGreaterThan(100);
      expect(Math.fround(Math.exp(-maxRate))).toBe(0);
      expect(minRate).toBeLessThan(1e-3);
      const { err, finite } = relErr(parallelScan(s), sequentialScanChannel(s));
      expect(finite).toBe(true);
      expect(err).toBeLessThan(TOL);
    }
  });

  it('long runs of tiny dt (state carried across hundreds of chunks) stay accurate', () => {
    const s = makeInputs({ batch: 1, len: 2000, inner: 4, state: 8, seed: 12, dtRange: [1e-4, 1e-3] });
    const { err, finite } = relErr(parallelScan(s), sequentialScanChannel(s));
    expect(finite).toBe(true);
    expect(err).toBeLessThan(TOL);
  });

  it('each channel decays by its own A: channels with equal inputs but different A differ as the reference says', () => {
    const s = makeInputs({ batch: 1, len: 40, inner: 2, state: 4, seed: 13 });
    for (let t = 0; t < s.len; t++) {
      s.x[t * 2 + 1] = s.x[t * 2];
      s.dt[t * 2 + 1] = s.dt[t * 2];
    }
    for (let k = 0; k < 4; k++) s.A[4 + k] = s.A[k] * 10; // channel 1 forgets 10x faster
    const y = parallelScan(s);
    const ref = sequentialScanChannel(s);
    expect(relErr(y, ref).err).toBeLessThan(TOL);
    let differ = 0;
    for (let t = 5; t < s.len; t++) differ = Math.max(differ, Math.abs(y[t * 2] - y[t * 2 + 1]));
    expect(differ).toBeGreaterThan(1e-2);
  });
});
