// Zigzag (snake) scan orders over a grid x grid token map. A causal scan sees only what came before it in its order,
// so each layer uses a different order (rotating with the layer index) and every token gets context from every side
// after a few layers, with no jump between the end of one row and the start of the next.

export interface ScanOrder {
  name: string;
  /** perm[k] = the raster index of the k-th token in scan order. */
  perm: Int32Array;
  /** inverse[raster] = position of that token in scan order. */
  inverse: Int32Array;
}

export const SCAN_ORDER_NAMES = ['row-snake', 'column-snake', 'row-snake-reversed', 'column-snake-reversed'] as const;

const cache = new Map<string, ScanOrder>();

/** The scan order of a layer; memoized, so executors can cache per-order work by identity. */
export function scanOrder(layer: number, rows: number, cols: number, orders = 4): ScanOrder {
  const which = layer % orders;
  const key = `${which}:${rows}:${cols}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const order = buildOrder(which, rows, cols);
  cache.set(key, order);
  return order;
}

function buildOrder(which: number, rows: number, cols: number): ScanOrder {
  const n = rows * cols;
  const perm = new Int32Array(n);
  let k = 0;
  if (which % 2 === 0) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) perm[k++] = r * cols + (r % 2 === 0 ? c : cols - 1 - c);
    }
  } else {
    for (let c = 0; c < cols; c++) {
      for (let r = 0; r < rows; r++) perm[k++] = (c % 2 === 0 ? r : rows - 1 - r) * cols + c;
    }
  }
  if (which >= 2) perm.reverse();
  const inverse = new Int32Array(n);
  for (let i = 0; i < n; i++) inverse[perm[i]] = i;
  return { name: SCAN_ORDER_NAMES[which], perm, inverse };
}
