// AdaLN (DiT-style conditioning): a projection of the conditioning vector c gives per-channel shift, scale and gate
// vectors, which modulate a parameter-free layer norm.
import type { Ops } from '../ops.js';
import type { Scope } from '../param-scope.js';
import { linearLayer } from './linear.js';

export const LN_EPS = 1e-6;
/** Std of the normal init of the AdaLN projections: small, so blocks start near identity but every path is live. */
const ADALN_STD = 0.02;

export interface ModulationOptions {
  /** Width of c (default: dim). */
  condDim?: number;
  /** The axes between batch and channels to broadcast over: 1 for tokens [B, L, D] (default), 2 for maps [B, H, W, D]. */
  spatialAxes?: number;
}

/**
 * c [B, condDim] -> n vectors, each [B, 1, D] (tokens) or [B, 1, 1, D] (maps), ready to broadcast (shift, scale, gate,
 * ... in the caller's order).
 */
export function adaLNModulation<T>(p: Scope<T>, c: T, dim: number, n: number, opts: ModulationOptions = {}): T[] {
  const ops = p.ops;
  const { condDim = dim, spatialAxes = 1 } = opts;
  // One reshape, then each slice along the n axis already has the shape to broadcast.
  const rows = ops.reshape(linearLayer(p, c, condDim, n * dim, { std: ADALN_STD }), [-1, ...new Array<number>(spatialAxes - 1).fill(1), n, dim]);
  return Array.from({ length: n }, (_, i) => ops.slice(rows, spatialAxes, i, i + 1));
}

/** x * (1 + scale) + shift. */
export function modulate<T>(ops: Ops<T>, x: T, shift: T, scale: T): T {
  return ops.add(ops.mul(x, ops.add(scale, 1)), shift);
}
