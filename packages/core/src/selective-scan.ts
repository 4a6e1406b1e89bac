// The selective scan of a Mamba-style SSM with one decay per head (as in Mamba-2):
//   h_t = exp(dt_t * A) h_{t-1} + dt_t * x_t B_t^T        h_t: [heads, head_dim, state]
//   y_t = h_t C_t
// computed in a parallel, chunked form: no Loop or Scan op, so ORT and TF.js run it as a handful of matmuls.
//
// Why this form: tokens are split into chunks of Q. Inside a chunk the recurrence is a masked matmul (decays between
// every pair of positions, a Q x Q matrix per head); across chunks a second, smaller masked matmul carries each chunk's
// end state to the later chunks. The work is ~L*Q per head plus matmuls that ORT and the TF.js wasm backend run near
// peak, and the graph stays ~35 nodes per layer at any resolution. Decay sums over a segment are taken as a matmul of
// the per-step decays with a 0/1 matrix, so each sum adds only the terms inside its segment: no difference of large
// cumulative sums, and so no precision loss or Inf at extreme dt. Every exponent is <= 0.
import type { Ops } from './ops.js';

/**
 * The scan's inputs [B, L, .] with `extra` zero steps appended: a step with dt = 0 neither decays nor adds input, so
 * it changes nothing before it (both scans slice the padded outputs off).
 */
export function padSteps<T>(ops: Ops<T>, inputs: T[], extra: number): T[] {
  if (extra === 0) return inputs;
  const tail: [number, number][] = [[0, 0], [0, extra], [0, 0]];
  return inputs.map((t) => ops.pad(t, tail));
}

/** Chunk length Q: the power of two nearest above sqrt(L), so both the chunk and the chunk-carry matmuls stay small. */
export function chunkLength(tokens: number): number {
  let q = 1;
  while (q * q < tokens) q *= 2;
  return q;
}

/**
 * [n, n*n + n] 0/1 matrix M for a row vector a of n per-step log-decays:
 *   (a M)[i*n + j] = sum of a_k for j < k <= i   (0 for j >= i)    the decay from position j to position i
 *   (a M)[n*n + i] = sum of a_k for k <= i                          the decay from the chunk start to position i
 */
export function segmentSumMatrix(n: number): Float32Array {
  const cols = n * n + n;
  const m = new Float32Array(n * cols);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) if (j < k && k <= i) m[k * cols + i * n + j] = 1;
      if (k <= i) m[k * cols + n * n + i] = 1;
    }
  }
  return m;
}

/** [n, n*n] 0/1 matrix: (a M)[c*n + c'] = sum of a_k for c' < k < c, the decay over the chunks strictly between. */
export function strictSegmentSumMatrix(n: number): Float32Array {
  const m = new Float32Array(n * n * n);
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < n; c++) for (let c2 = 0; c2 < c; c2++) if (c2 < k && k < c) m[k * n * n + c * n + c2] = 1;
  }
  return m;
}

/** [n, n] lower-triangular 0/1 mask: 1 where j <= i (strict: j < i). */
export function lowerTriangle(n: number, strict: boolean): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (strict ? j < i : j <= i) m[i * n + j] = 1;
  return m;
}

/**
 * x [B, L, heads*P], dt [B, L, heads] (> 0), A [heads] (< 0), Bm and Cm [B, L, N]  ->  y [B, L, heads*P].
 */
export function selectiveScan<T>(ops: Ops<T>, x: T, dt: T, A: T, Bm: T, Cm: T, heads: number): T {
  const [, len, inner] = ops.shape(x);
  const state = ops.shape(Bm)[2];
  const p = inner / heads;
  const q = chunkLength(len);
  const nc = Math.ceil(len / q);
  const padded = nc * q;
  [x, dt, Bm, Cm] = padSteps(ops, [x, dt, Bm, Cm], padded - len);
  const segQ = ops.constant(`ssm.segment_sum_${q}`, [q, q * q + q], () => segmentSumMatrix(q));
  const trilQ = ops.constant(`ssm.lower_triangle_${q}`, [q, q], () => lowerTriangle(q, false));
  const segC = ops.constant(`ssm.chunk_segment_sum_${nc}`, [nc, nc * nc], () => strictSegmentSumMatrix(nc));
  const strictC = ops.constant(`ssm.chunk_strict_lower_${nc}`, [nc, nc], () => lowerTriangle(nc, true));

  // Per-step log decays, grouped by chunk: [B, nc, heads, q]
  const logDecay = ops.transpose(ops.reshape(ops.mul(dt, A), [-1, nc, q, heads]), [0, 1, 3, 2]);
  const sums = ops.matmul(logDecay, segQ); // [B, nc, heads, q*q + q]
  const decay = ops.mul(ops.exp(ops.reshape(ops.slice(sums, 3, 0, q * q), [-1, nc, heads, q, q])), trilQ); // [B,nc,H,q,q]
  const fromStart = ops.slice(sums, 3, q * q, q * q + q); // [B, nc, heads, q]: log decay from chunk start to i

  // Inputs scaled by dt, heads ahead of positions: [B, nc, heads, q, P]
  const xdt = ops.mul(ops.reshape(x, [-1, nc, q, heads, p]), ops.reshape(dt, [-1, nc, q, heads, 1]));
  const X = ops.transpose(xdt, [0, 1, 3, 2, 4]);
  const Bc = ops.reshape(Bm, [-1, nc, 1, q, state]);
  const BcT = ops.transpose(Bc, [0, 1, 2, 4, 3]); // [B, nc, 1, N, q]
  const Cc = ops.reshape(Cm, [-1, nc, 1, q, state]);

  // Within each chunk: y_i = sum_{j<=i} (C_i . B_j) decay(j->i) x_j dt_j
  const scores = ops.matmul(Cc, BcT); // [B, nc, 1, q, q]
  const yDiag = ops.matmul(ops.mul(scores, decay), X); // [B, nc, heads, q, P]

  // Each chunk's end state from its own inputs: [B, nc, heads, N, P]
  const toEnd = ops.slice(decay, 3, q - 1, q); // [B, nc, heads, 1, q]
  const states = ops.matmul(ops.mul(BcT, toEnd), X);

  // Across chunks: the state entering chunk c is sum_{c'<c} decay(c'+1..c-1) * states[c']
  const totals = ops.transpose(ops.reshape(ops.slice(fromStart, 3, q - 1, q), [-1, nc, heads]), [0, 2, 1]); // [B,H,nc]
  const carry = ops.mul(ops.exp(ops.reshape(ops.matmul(totals, segC), [-1, heads, nc, nc])), strictC); // [B,H,nc,nc]
  const flat = ops.reshape(ops.transpose(states, [0, 2, 1, 3, 4]), [-1, heads, nc, state * p]);
  const entering = ops.reshape(ops.matmul(carry, flat), [-1, heads, nc, state, p]);
  const enteringByChunk = ops.reshape(ops.transpose(entering, [0, 2, 3, 1, 4]), [-1, nc, state, inner]); // [B,nc,N,H*P]

  // The entering state, read out by C and decayed from the chunk start to each position.
  const yOffRaw = ops.reshape(ops.matmul(ops.reshape(Cm, [-1, nc, q, state]), enteringByChunk), [-1, nc, q, heads, p]);
  const startDecay = ops.reshape(ops.transpose(ops.exp(fromStart), [0, 1, 3, 2]), [-1, nc, q, heads, 1]);
  const y = ops.add(ops.transpose(yDiag, [0, 1, 3, 2, 4]), ops.mul(yOffRaw, startDecay)); // [B, nc, q, heads, P]
  const out = ops.reshape(y, [-1, padded, inner]);
  return padded === len ? out : ops.slice(out, 1, 0, len);
}
