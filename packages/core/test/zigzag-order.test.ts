// Zigzag scan orders: each is a permutation of the grid with a correct inverse, walks the grid as a snake (every step
// moves to a neighbouring token, no jump from a row's end to the next row's start), and the layers rotate through 4
// distinct orders.
import { describe, expect, it } from 'vitest';
import { SCAN_ORDER_NAMES, scanOrder } from '@liquidflow/core';

const GRIDS: [number, number][] = [
  [4, 4],
  [5, 3],
  [3, 5],
  [2, 7],
  [32, 32],
];

const arr = (a: Int32Array) => Array.from(a);

describe('scanOrder', () => {
  for (const [rows, cols] of GRIDS) {
    describe(`${rows}x${cols}`, () => {
      const n = rows * cols;
      for (let layer = 0; layer < 4; layer++) {
        it(`layer ${layer}: a permutation with a correct inverse`, () => {
          const o = scanOrder(layer, rows, cols);
          expect(o.perm.length).toBe(n);
          expect(o.inverse.length).toBe(n);
          expect([...o.perm].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
          for (let k = 0; k < n; k++) expect(o.inverse[o.perm[k]]).toBe(k);
          for (let r = 0; r < n; r++) expect(o.perm[o.inverse[r]]).toBe(r);
        });

        it(`layer ${layer}: consecutive tokens are grid neighbours (snake)`, () => {
          const { perm } = scanOrder(layer, rows, cols);
          for (let k = 1; k < n; k++) {
            const [r0, c0] = [Math.floor(perm[k - 1] / cols), perm[k - 1] % cols];
            const [r1, c1] = [Math.floor(perm[k] / cols), perm[k] % cols];
            expect(Math.abs(r1 - r0) + Math.abs(c1 - c0), `step ${k - 1}->${k}`).toBe(1);
          }
        });
      }

      it('orders 0..3 start where named: row snake at (0,0) along row 0, column snake at (0,0) down column 0', () => {
        const row = scanOrder(0, rows, cols).perm;
        const col = scanOrder(1, rows, cols).perm;
        expect(row[0]).toBe(0);
        expect(row[1]).toBe(1); // (0, 1)
        expect(col[0]).toBe(0);
        expect(col[1]).toBe(cols); // (1, 0)
        expect(scanOrder(0, rows, cols).name).toBe(SCAN_ORDER_NAMES[0]);
        expect(scanOrder(3, rows, cols).name).toBe(SCAN_ORDER_NAMES[3]);
      });

      it('the 4 orders are pairwise different', () => {
        const orders = [0, 1, 2, 3].map((l) => arr(scanOrder(l, rows, cols).perm).join());
        expect(new Set(orders).size).toBe(4);
      });

      it('orders 2 and 3 are the reverses of 0 and 1', () => {
        expect(arr(scanOrder(2, rows, cols).perm)).toEqual(arr(scanOrder(0, rows, cols).perm).reverse());
        expect(arr(scanOrder(3, rows, cols).perm)).toEqual(arr(scanOrder(1, rows, cols).perm).reverse());
      });

      it('layers rotate: layer 4 repeats layer 0, layer 7 repeats layer 3', () => {
        expect(arr(scanOrder(4, rows, cols).perm)).toEqual(arr(scanOrder(0, rows, cols).perm));
        expect(arr(scanOrder(7, rows, cols).perm)).toEqual(arr(scanOrder(3, rows, cols).perm));
      });
    });
  }

  it('fewer scan orders: with orders=2 layer 2 repeats layer 0; with orders=1 every layer is the row snake', () => {
    expect(arr(scanOrder(2, 4, 4, 2).perm)).toEqual(arr(scanOrder(0, 4, 4).perm));
    expect(arr(scanOrder(3, 4, 4, 2).perm)).toEqual(arr(scanOrder(1, 4, 4).perm));
    for (let l = 0; l < 5; l++) expect(arr(scanOrder(l, 4, 4, 1).perm)).toEqual(arr(scanOrder(0, 4, 4).perm));
  });

  it('a 4x4 row snake and column snake are exactly the boustrophedon walks', () => {
    expect(arr(scanOrder(0, 4, 4).perm)).toEqual([0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11, 15, 14, 13, 12]);
    expect(arr(scanOrder(1, 4, 4).perm)).toEqual([0, 4, 8, 12, 13, 9, 5, 1, 2, 6, 10, 14, 15, 11, 7, 3]);
  });
});
