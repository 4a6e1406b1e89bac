// Improved precision and recall of a generator (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
// Assessing Generative Models"): each set's manifold is the union of balls around its feature vectors, each ball
// reaching that vector's k-th nearest neighbour in the same set.
//   precision = share of generated vectors inside the real manifold   (are the samples realistic?)
//   recall    = share of real vectors inside the generated manifold   (do the samples cover the data?)
// Exact k-NN by brute force, in float64: O(n m d), a few seconds for 5000 x 5000 vectors of width 64.

/** Squared distance between row i of a and row j of b (width d). */
function dist2(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const t = a[i * d + k] - b[j * d + k];
    s += t * t;
  }
  return s;
}

/** For each row of `x` (n rows of width d), the squared distance to its k-th nearest other row. */
export function kthNeighbourRadii2(x: ArrayLike<number>, n: number, d: number, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new RangeError(`k must be an integer in [1, ${n - 1}] for ${n} vectors, got ${k}`);
  const radii = new Float64Array(n);
  const nearest = new Float64Array(k); // the k smallest distances so far, ascending
  for (let i = 0; i < n; i++) {
    nearest.fill(Infinity);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const s = dist2(x, i, x, j, d);
      if (s >= nearest[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && nearest[p - 1] > s) {
        nearest[p] = nearest[p - 1];
        p--;
      }
      nearest[p] = s;
    }
    radii[i] = nearest[k - 1];
  }
  return radii;
}

/** Share of the rows of `query` that fall inside some ball of `ref` (centres ref's rows, squared radii radii2). */
function coverage(query: ArrayLike<number>, nq: number, ref: ArrayLike<number>, radii2: Float64Array, d: number): number {
  let inside = 0;
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < radii2.length; j++) {
      if (dist2(query, i, ref, j, d) <= radii2[j]) {
        inside++;
        break;
      }
    }
  }
  return inside / nq;
}

export interface PrecisionRecall {
  precision: number;
  recall: number;
}

/** real: nReal vectors, fake: nFake vectors, both of width d, row by row. k = 3 as in the paper. */
export function precisionRecall(real: ArrayLike<number>, nReal: number, fake: ArrayLike<number>, nFake: number, d: number, k = 3): PrecisionRecall {
  if (real.length !== nReal * d || fake.length !== nFake * d) {
    throw new RangeError(`precisionRecall: expected ${nReal} and ${nFake} vectors of width ${d}, got ${real.length} and ${fake.length} values`);
  }
  return {
    precision: coverage(fake, nFake, real, kthNeighbourRadii2(real, nReal, d, k), d),
    recall: coverage(real, nReal, fake, kthNeighbourRadii2(fake, nFake, d, k), d),
  };
}
