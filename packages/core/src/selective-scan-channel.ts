// The selective scan of Mamba-1 (one decay per channel and state, as in state-spaces/mamba's selective_scan_ref):
//   h_t[d, n] = exp(dt_t[d] * A[d, n]) h_{t-1}[d, n] + dt_t[d] x_t[d] B_t[n]        h_t: [inner, N]
//   y_t[d]    = sum_n h_t[d, n] C_t[n]
// computed in a parallel form with no Loop or Scan op.
//
// Why this form: with a decay per (channel, state) the head form's trick (selective-scan.ts: a Q x Q decay matrix per
// head, then matmuls) would need a Q x Q matrix per channel and state, Q times the state itself, and its contraction
// over N no longer factors into a matmul. The state h_t [inner, N] at every position is the smallest thing any
// non-fused form can build (Mamba-1's reference materialises the same [B, D, L, N] decays), so this form builds it
// once and does O(1) elementwise work per state element on top:
//   1. tokens are split into chunks of Q; inside a chunk the recurrence is unrolled step by step (Q steps of one mul
//      and one add on a [B, chunks, 1, inner, N] slice: every chunk advances at once);
//   2. a first unrolled pass gives each chunk's end state from its own inputs, and its total decay;
//   3. the state entering each chunk comes from an inclusive Hillis-Steele scan over the chunks, ceil(log2(chunks))
//      unrolled steps of (total decay, end state) pairs, shifted by one chunk;
//   4. a second unrolled pass reruns the recurrence from the entering state, and y is read out by C.
// Cost: about 9 multiply-adds per state element (B * L * inner * N) plus 6 log2(L/Q) on the chunk totals, graph size
// ~7 Q + 8 log2(L/Q) nodes per layer; memory a few [B, L, inner, N] float32 tensors (the head form never builds one:
// it is ~N times cheaper, which is why it stays the default). Q = 8 measured fastest on ORT and TF.js wasm (see
// CHANNEL_CHUNK). Every exponent is a sum of dt*A terms inside one segment, all <= 0: no difference of large
// cumulative sums, no overflow, underflow to 0 only where the true decay is below float32's range.
import type { Ops } from './ops.js';

/** Chunk length Q of the channel scan: the unrolled steps per chunk. */
export const CHANNEL_CHUNK = 8;

/**
 * x [B, L, inner], dt [B, L, inner] (> 0), A [inner, N] (< 0), Bm and Cm [B, L, N]  ->  y [B, L, inner].
 * `chunk` overrides the chunk length (tests cover every split; 1 is a pure Hillis-Steele scan over the tokens).
 */
export function selectiveScanChannel<T>(ops: Ops<T>, x: T, dt: T, A: T, Bm: T, Cm: T, chunk = CHANNEL_CHUNK): T {
  const [, len, inner] = ops.shape(x);
  const state = ops.shape(Bm)[2];
  const q = Math.min(chunk, len);
  const nc = Math.ceil(len / q);
  const padded = nc * q;
  if (padded !== len) {
    // Zero steps at the end (dt = 0: no decay, no input) change nothing before them; they are sliced off below.
    const tail: [number, number][] = [[0, 0], [0, padded - len], [0, 0]];
    x = ops.pad(x, tail);
    dt = ops.pad(dt, tail);
    Bm = ops.pad(Bm, tail);
    Cm = ops.pad(Cm, tail);
  }
  const logDecay = ops.mul(ops.reshape(dt, [-1, nc, q, inner, 1]), A); // [B, nc, Q, inner, N], <= 0
  const decay = ops.exp(logDecay);
  const input = ops.mul(ops.reshape(ops.mul(dt, x), [-1, nc, q, inner, 1]), ops.reshape(Bm, [-1, nc, q, 1, state]));
  const step = (i: number) => [ops.slice(decay, 2, i, i + 1), ops.slice(input, 2, i, i + 1)]; // [B, nc, 1, inner, N]
  const steps = Array.from({ length: q }, (_, i) => step(i));

  // Pass 1: each chunk's end state from its own inputs, and its total log decay.
  let end = steps[0][1];
  for (let i = 1; i < q; i++) end = ops.add(ops.mul(steps[i][0], end), steps[i][1]);
  let total = q === 1 ? logDecay : ops.mul(ops.reduceMean(logDecay, 2), q); // [B, nc, 1, inner, N]

  // Across chunks: inclusive Hillis-Steele scan of (total, end); pair c absorbs pair c - s at step s. Shifting in zeros
  // (log decay 0, state 0) is the identity pair, so the first s chunks pass through unchanged.
  const shift = (v: T, s: number) => ops.slice(ops.pad(v, [[0, 0], [s, 0], [0, 0], [0, 0], [0, 0]]), 1, 0, nc);
  for (let s = 1; s < nc; s *= 2) {
    end = ops.add(end, ops.mul(ops.exp(total), shift(end, s)));
    if (2 * s < nc) total = ops.add(total, shift(total, s));
  }
  let h = nc === 1 ? null : shift(end, 1); // the state entering each chunk (none entering the first)

  // Pass 2: the recurrence again, from the entering state; every position's state, read out by C.
  const states: T[] = [];
  for (let i = 0; i < q; i++) {
    const [a, b] = steps[i];
    h = h === null ? b : ops.add(ops.mul(a, h), b);
    states.push(h);
  }
  const all = q === 1 ? states[0] : ops.concat(states, 2); // [B, nc, Q, inner, N]
  const y = ops.mul(ops.reduceMean(ops.mul(all, ops.reshape(Cm, [-1, nc, q, 1, state])), 4), state); // [B,nc,Q,inner,1]
  const out = ops.reshape(y, [-1, padded, inner]);
  return padded === len ? out : ops.slice(out, 1, 0, len);
}
