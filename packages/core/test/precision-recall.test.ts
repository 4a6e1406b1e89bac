// Improved precision and recall (k-NN manifolds) on synthetic sets whose overlap is known.
import { describe, expect, it } from 'vitest';
import { Rng, kthNeighbourRadii2, precisionRecall } from '@liquidflow/core';

const rng = new Rng(11);
/** n points of width d from a unit Gaussian around `centre`. */
function cluster(n: number, d: number, centre: number): Float64Array {
  return Float64Array.from({ length: n * d }, () => centre + rng.normal());
}
const join = (...parts: Float64Array[]) => {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

describe('precisionRecall', () => {
  // Width 2: with a few hundred points, k = 3 balls cover a distribution's own samples almost fully (in wider spaces
  // the estimate falls below 1 for two samples of one distribution, which would blur the expected fractions).
  const d = 2;

  it('k-th neighbour radii on a line of points 0..9', () => {
    const x = Float64Array.from({ length: 10 }, (_, i) => i);
    expect([...kthNeighbourRadii2(x, 10, 1, 1)]).toEqual(new Array(10).fill(1));
    expect([...kthNeighbourRadii2(x, 10, 1, 2)]).toEqual([4, ...new Array(8).fill(1), 4]);
    expect(() => kthNeighbourRadii2(x, 10, 1, 10)).toThrow(/k must be an integer in \[1, 9\]/);
  });

  it('two samples of one distribution: both near 1', () => {
    const r = precisionRecall(cluster(400, d, 0), 400, cluster(400, d, 0), 400, d);
    expect(r.precision).toBeGreaterThan(0.9);
    expect(r.recall).toBeGreaterThan(0.9);
  });

  it('far apart distributions: both 0', () => {
    expect(precisionRecall(cluster(200, d, 0), 200, cluster(200, d, 50), 200, d)).toEqual({ precision: 0, recall: 0 });
  });

  it('a generator that covers one of two real modes: precision near 1, recall near 1/2', () => {
    const real = join(cluster(300, d, 0), cluster(300, d, 30));
    const fake = cluster(300, d, 0);
    const r = precisionRecall(real, 600, fake, 300, d);
    expect(r.precision).toBeGreaterThan(0.9);
    expect(r.recall).toBeGreaterThan(0.45);
    expect(r.recall).toBeLessThan(0.5 + 1e-9); // the far mode is never covered
  });

  it('a generator with a mode the data lacks: recall near 1, precision near 1/2', () => {
    const real = cluster(300, d, 0);
    const fake = join(cluster(300, d, 0), cluster(300, d, -30));
    const r = precisionRecall(real, 300, fake, 600, d);
    expect(r.recall).toBeGreaterThan(0.9);
    expect(r.precision).toBeGreaterThan(0.45);
    expect(r.precision).toBeLessThan(0.5 + 1e-9);
  });

  it('refuses sizes that do not match', () => {
    expect(() => precisionRecall(new Float64Array(10), 3, new Float64Array(9), 3, 3)).toThrow(/expected 3 and 3 vectors of width 3, got 10 and 9 values/);
  });
});
