// AdaLN (DiT-style conditioning): a projection of the conditioning vector c gives per-channel shift, scale and gate
// vectors, which modulate a parameter-free layer norm.
import type { Ops } from '../ops.js';
import type { Scope } from '../param-scope.js';
import { linearLayer } from './linear.js';

export const LN_EPS = 1e-6;
/** Std of the normal init of the AdaLN projections: small, so blocks start near identity but every path is live. */
const ADALN_STD = 0.02;

/** c [B, D] -> n vectors, each [B, 1, D] ready to broadcast over tokens (shift, scale, gate, ... in the caller's order). */
export function adaLNModulation<T>(p: Scope<T>, c: T, dim: number, n: number): T[] {
  const ops = p.ops;
  const rows = ops.reshape(linearLayer(p, c, dim, n * dim, { std: ADALN_STD }), [-1, n, dim]); // one reshape, then each slice is already [B, 1, D]
  return Array.from({ length: n }, (_, i) => ops.slice(rows, 1, i, i + 1));
}

/** x * (1 + scale) + shift. */
export function modulate<T>(ops: Ops<T>, x: T, shift: T, scale: T): T {
  return ops.add(ops.mul(x, ops.add(scale, 1)), shift);
}
