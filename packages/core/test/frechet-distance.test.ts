// Fréchet distance and its float64 linear algebra: eigen-decomposition and square root against their definitions, the
// distance against closed forms (commuting covariances of any width; any two 2x2 covariances), symmetry, FD(x, x) = 0,
// and the estimate from samples converging to the closed form.
import { describe, expect, it } from 'vitest';
import { Rng, featureStats, frechetDistance, matmul64, sqrtmPsd, symmetricEigen, type FeatureStats } from '@liquidflow/core';

const rng = new Rng(7);
const randomMatrix = (n: number) => Float64Array.from({ length: n * n }, () => rng.normal());
const transpose = (a: Float64Array, n: number) => Float64Array.from({ length: n * n }, (_, k) => a[(k % n) * n + Math.floor(k / n)]);
const maxAbs = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
/** A random PSD matrix B B^T, scaled. */
const randomPsd = (n: number) => {
  const b = randomMatrix(n);
  return matmul64(b, transpose(b, n), n);
};
/** A random rotation: the eigenvectors of a random symmetric matrix. */
const randomRotation = (n: number) => symmetricEigen(randomPsd(n), n).vectors;
const diag = (v: number[]) => {
  const n = v.length;
  const m = new Float64Array(n * n);
  v.forEach((x, i) => (m[i * n + i] = x));
  return m;
};
const stats = (mean: number[], cov: Float64Array): FeatureStats => ({ dim: mean.length, count: 1000, mean: Float64Array.from(mean), cov });

describe('symmetricEigen and sqrtmPsd', () => {
  it('V diag(l) V^T rebuilds the matrix, V is orthonormal, the eigenvalues ascend', () => {
    const n = 12;
    const a = randomPsd(n);
    for (let i = 0; i < n; i++) a[i * n + i] -= 5; // some negative eigenvalues too
    const { values, vectors } = symmetricEigen(a, n);
    const rebuilt = matmul64(matmul64(vectors, diag([...values]), n), transpose(vectors, n), n);
    expect(maxAbs(rebuilt, a)).toBeLessThan(1e-10);
    expect(maxAbs(matmul64(transpose(vectors, n), vectors, n), diag(new Array(n).fill(1)))).toBeLessThan(1e-12);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  });

  it('sqrtmPsd(A)^2 = A, and the root is symmetric', () => {
    const n = 16;
    const a = randomPsd(n);
    const r = sqrtmPsd(a, n);
    expect(maxAbs(matmul64(r, r, n), a) / maxAbs(a, new Float64Array(n * n))).toBeLessThan(1e-10);
    expect(maxAbs(r, transpose(r, n))).toBeLessThan(1e-10);
  });
});

describe('frechetDistance', () => {
  it('commuting covariances (same eigenvectors): |dmu|^2 + sum (sqrt a_i - sqrt b_i)^2', () => {
    const n = 10;
    const q = randomRotation(n);
    const a = Array.from({ length: n }, (_, i) => 0.5 + i);
    const b = Array.from({ length: n }, (_, i) => 3 + 0.25 * i * i);
    const rot = (d: number[]) => matmul64(matmul64(q, diag(d), n), transpose(q, n), n);
    const m1 = Array.from({ length: n }, (_, i) => i / 3);
    const m2 = Array.from({ length: n }, (_, i) => 1 - i / 5);
    const want = m1.reduce((s, v, i) => s + (v - m2[i]) ** 2, 0) + a.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(b[i])) ** 2, 0);
    expect(frechetDistance(stats(m1, rot(a)), stats(m2, rot(b)))).toBeCloseTo(want, 9);
  });

  it('any two 2x2 covariances: tr sqrt(S1^1/2 S2 S1^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))', () => {
    for (let trial = 0; trial < 5; trial++) {
      const s1 = randomPsd(2);
      const s2 = randomPsd(2);
      const det = (s: Float64Array) => s[0] * s[3] - s[1] * s[2];
      const p = matmul64(s1, s2, 2);
      const cross = Math.sqrt(p[0] + p[3] + 2 * Math.sqrt(det(s1) * det(s2)));
      const want = 1 + s1[0] + s1[3] + s2[0] + s2[3] - 2 * cross; // means differ by (1, 0)
      expect(frechetDistance(stats([1, 0], s1), stats([0, 0], s2))).toBeCloseTo(want, 9);
    }
  });

  it('is symmetric, 0 for a set against itself, and > 0 for different sets', () => {
    const n = 8;
    const a = stats(Array.from({ length: n }, () => rng.normal()), randomPsd(n));
    const b = stats(Array.from({ length: n }, () => rng.normal()), randomPsd(n));
    const ab = frechetDistance(a, b);
    expect(ab).toBeGreaterThan(0);
    expect(Math.abs(ab - frechetDistance(b, a)) / ab).toBeLessThan(1e-9);
    expect(frechetDistance(a, a)).toBeLessThan(1e-9 * ab);
  });

  it('from samples: featureStats of two Gaussians converges to the closed form', () => {
    const n = 4;
    const count = 40000;
    // x = mu + L z with S = L L^T; two such Gaussians with known S.
    const draw = (mu: number[], l: Float64Array) => {
      const out = new Float32Array(count * n);
      const z = new Float64Array(n);
      for (let r = 0; r < count; r++) {
        for (let i = 0; i < n; i++) z[i] = rng.normal();
        for (let i = 0; i < n; i++) {
          let s = mu[i];
          for (let j = 0; j < n; j++) s += l[i * n + j] * z[j];
          out[r * n + i] = s;
        }
      }
      return out;
    };
    const l1 = randomMatrix(n);
    const l2 = randomMatrix(n);
    const mu1 = [0, 1, 2, 3];
    const mu2 = [1, 1, 0, 3];
    const exact = frechetDistance(stats(mu1, matmul64(l1, transpose(l1, n), n)), stats(mu2, matmul64(l2, transpose(l2, n), n)));
    const est = frechetDistance(featureStats(draw(mu1, l1), count, n), featureStats(draw(mu2, l2), count, n));
    expect(Math.abs(est - exact) / exact).toBeLessThan(0.05);
  });

  it('featureStats: mean and unbiased covariance of a small set; bad sizes are refused', () => {
    const s = featureStats([1, 2, 3, 6, 5, 10], 3, 2); // rows (1,2), (3,6), (5,10)
    expect([...s.mean]).toEqual([3, 6]);
    expect([...s.cov]).toEqual([4, 8, 8, 16]);
    expect(() => featureStats([1, 2, 3], 2, 2)).toThrow(/2 vectors of width 2 are 4 values, got 3/);
    expect(() => featureStats([1, 2], 1, 2)).toThrow(/at least 2 vectors/);
    expect(() => frechetDistance(s, featureStats([1, 2, 3, 4, 5, 6], 2, 3))).toThrow(/widths differ/);
  });
});
