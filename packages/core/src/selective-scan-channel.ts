// The selective scan of Mamba-1 (one decay per channel and state, as in state-spaces/mamba's selective_scan_ref):
//   h_t[n, d] = exp(dt_t[d] * A[d, n]) h_{t-1}[n, d] + dt_t[d] x_t[d] B_t[n]        h_t: [N, inner]
//   y_t[d]    = sum_n h_t[n, d] C_t[n]
// computed in a parallel form with no Loop or Scan op.
//
// Why this form: with a decay per (channel, state) the head form's trick (selective-scan.ts: a Q x Q decay matrix per
// head, then matmuls) needs a Q x Q matrix per channel and state, Q times the size of the state at every position,
// and its contraction over N no longer factors into a matmul. The state at every position, [B, L, N, inner], is the
// least any non-fused form builds (Mamba-1's reference materialises the same [B, D, L, N] decays), so this form builds
// it once, with O(1) elementwise work per state element on top:
//   1. tokens are split into chunks of Q (CHANNEL_CHUNK); inside a chunk the recurrence is unrolled step by step, one
//      multiply and one add on a [B, chunks, 1, N, inner] slice per step, so all chunks advance at once;
//   2. a first unrolled pass gives each chunk's end state from its own inputs; its total decay is (sum of dt) * A;
//   3. the state entering each chunk comes from an inclusive Hillis-Steele scan over the chunks: ceil(log2(chunks))
//      unrolled steps on (total log decay, end state) pairs, then a shift by one chunk;
//   4. a second unrolled pass reruns the recurrence from the entering state and reads each position out with C.
// Cost per layer: about 9 passes over B * L * N * inner values (decay mul+exp, input, two recurrences of mul+add, the
// readout mul+reduce) plus ~4 log2(L/Q) passes over the L/Q chunk states; ~14 nodes per step, so ~14 Q + 8 log2(L/Q)
// nodes; memory a few [B, L/Q, N, inner] tensors at a time when inferring, all B * L * N * inner states (times a few)
// when training. The head form builds no state-sized tensor at all, which is why it stays the default.
// Every exponent is dt * A or a sum of such terms inside one segment, all <= 0: no difference of large cumulative
// sums, no overflow; a decay underflows to 0 only where the true one is below float32's range.
import type { Ops } from './ops.js';
import { padSteps } from './selective-scan.js';

/** Chunk length Q: unrolled steps per chunk. 8 ran faster than 4 and as fast as 16 (half its nodes) on ORT CPU. */
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
  [x, dt, Bm, Cm] = padSteps(ops, [x, dt, Bm, Cm], padded - len);
  // States are laid out [.., N, inner], channels last: every broadcast below then runs over contiguous rows of `inner`
  // values (ORT's and TF.js's fast path; channels-first rows of N = 16 measured ~2x slower on ORT). Per-position values
  // stay small ([B, nc, Q, 1 or N, inner or 1]); each step builds its own decay and input from one slice of them, so no
  // state-sized tensor is ever sliced (a slice's gradient pads back to the whole tensor: Q state-sized pads per layer).
  const AT = ops.transpose(A, [1, 0]); // [N, inner]
  const dtc = ops.reshape(dt, [-1, nc, q, 1, inner]);
  const u = ops.reshape(ops.mul(dt, x), [-1, nc, q, 1, inner]);
  const Bc = ops.reshape(Bm, [-1, nc, q, state, 1]);
  const Cc = ops.reshape(ops.mul(Cm, state), [-1, nc, q, state, 1]); // * N: the readout's mean over N becomes its sum
  const at = (v: T, i: number) => ops.slice(v, 2, i, i + 1);
  const steps = Array.from({ length: q }, (_, i) => ({
    decay: ops.exp(ops.mul(at(dtc, i), AT)), // [B, nc, 1, N, inner], exponent <= 0
    input: ops.mul(at(u, i), at(Bc, i)),
  }));

  // Pass 1: each chunk's end state from its own inputs, and its total log decay (sum of dt over the chunk, times A).
  let end = steps[0].input;
  for (let i = 1; i < q; i++) end = ops.add(ops.mul(steps[i].decay, end), steps[i].input);
  let total = ops.mul(q === 1 ? dtc : ops.mul(ops.reduceMean(dtc, 2), q), AT); // [B, nc, 1, N, inner]

  // Across chunks: inclusive Hillis-Steele scan of (total, end); pair c absorbs pair c - s at step s. Shifting in zeros
  // (log decay 0, state 0) is the identity pair, so the first s chunks pass through unchanged.
  const shift = (v: T, s: number) => ops.slice(ops.pad(v, [[0, 0], [s, 0], [0, 0], [0, 0], [0, 0]]), 1, 0, nc);
  for (let s = 1; s < nc; s *= 2) {
    end = ops.add(end, ops.mul(ops.exp(total), shift(end, s)));
    if (2 * s < nc) total = ops.add(total, shift(total, s));
  }
  let h = nc === 1 ? null : shift(end, 1); // the state entering each chunk (none entering the first)

  // Pass 2: the recurrence again, from the entering state; each position's state read out by C (sum over N).
  const ys: T[] = [];
  for (let i = 0; i < q; i++) {
    h = h === null ? steps[i].input : ops.add(ops.mul(steps[i].decay, h), steps[i].input);
    ys.push(ops.reduceMean(ops.mul(h, at(Cc, i)), 3)); // [B, nc, 1, 1, inner]
  }
  const y = q === 1 ? ys[0] : ops.concat(ys, 2); // [B, nc, Q, 1, inner]
  const out = ops.reshape(y, [-1, padded, inner]);
  return padded === len ? out : ops.slice(out, 1, 0, len);
}
