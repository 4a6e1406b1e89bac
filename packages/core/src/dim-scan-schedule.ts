// DiM's scan schedule (seed 001; its code: mamba_attn_diff/models/adapter_attn4mamba.py, _init_patterns and
// SequenceIndexSet._init_scan_patterns). Four raster directions, no snake: H+ (row-major), H- (row-major reversed),
// V+ (column-major), V- (column-major reversed). The input arrives in H+; the encoder half steps forward through the
// cycle (layer 0 scans H-), the decoder half steps back, and the last layer scans H+ again. So the stream entering
// decoder layer i is in the same order as the encoder output its long skip brings (layer depth-1-i), and the tokens
// stay in scan order between layers: one permutation from each layer's order to the next, none to restore at the end.
import type { ScanOrder } from './zigzag-order.js';

export const DIM_DIRECTION_NAMES = ['H+', 'H-', 'V+', 'V-'] as const;

/**
 * The direction of each layer, an index into the first `cycle` of DIM_DIRECTION_NAMES: min(i + 1, depth - 1 - i) mod
 * cycle. This is DiM's counter (forward in the encoder half, held or stepped back at the middle, back in the decoder
 * half, 0 at the last layer) in closed form; layer i-1 and the skip source depth-1-i always get the same direction.
 */
export function dimLayerDirections(depth: number, cycle: number): number[] {
  if (!(cycle >= 1 && cycle <= 4)) throw new RangeError(`dimLayerDirections: cycle must be 1..4, got ${cycle}`);
  return Array.from({ length: depth }, (_, i) => Math.min(i + 1, depth - 1 - i) % cycle);
}

const orders = new Map<string, ScanOrder>();

/** A raster direction over a rows x cols grid; memoized, so executors can cache per-order work by identity. */
export function rasterOrder(direction: number, rows: number, cols: number): ScanOrder {
  const key = `${direction}:${rows}:${cols}`;
  let order = orders.get(key);
  if (!order) {
    const n = rows * cols;
    const perm = new Int32Array(n);
    let k = 0;
    if (direction < 2) for (let i = 0; i < n; i++) perm[k++] = i;
    else for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) perm[k++] = r * cols + c;
    if (direction % 2 === 1) perm.reverse();
    const inverse = new Int32Array(n);
    for (let i = 0; i < n; i++) inverse[perm[i]] = i;
    order = { name: DIM_DIRECTION_NAMES[direction], perm, inverse };
    orders.set(key, order);
  }
  return order;
}

const relatives = new WeakMap<ScanOrder, Map<ScanOrder, Int32Array | null>>();

/**
 * The reordering of a sequence in order `from` into order `to` (for ops.permute: out[k] = x[rel[k]]), composed from
 * the two: rel[k] = from.inverse[to.perm[k]]. Undefined when the orders agree (nothing to do). Memoized per pair.
 */
export function relativeOrder(from: ScanOrder, to: ScanOrder): Int32Array | undefined {
  let byTarget = relatives.get(from);
  if (!byTarget) relatives.set(from, (byTarget = new Map()));
  let rel = byTarget.get(to);
  if (rel === undefined) {
    const r = new Int32Array(to.perm.length);
    let identity = true;
    for (let k = 0; k < r.length; k++) {
      r[k] = from.inverse[to.perm[k]];
      if (r[k] !== k) identity = false;
    }
    rel = identity ? null : r;
    byTarget.set(to, rel);
  }
  return rel ?? undefined;
}
