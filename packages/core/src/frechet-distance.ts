// Fréchet distance between two sets of feature vectors, each summarised as a Gaussian (mean and covariance): the FID
// formula, computed in float64 from whatever feature network embeds the images.
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)
// The last trace is tr((S1 S2)^1/2) written with a symmetric matrix, whose eigenvalues are real and >= 0, so it needs
// only a symmetric eigen-decomposition (symmetric-eigen.ts) and no complex square root.
import { matmul64, sqrtmPsd, symmetricEigen } from './symmetric-eigen.js';

export interface FeatureStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** Unbiased covariance (divided by count - 1), dim x dim, row-major. */
  cov: Float64Array;
}

/** Mean and covariance of `count` feature vectors of width `dim` stored row by row; two passes, in float64. */
export function featureStats(features: ArrayLike<number>, count: number, dim: number): FeatureStats {
  if (!Number.isInteger(count) || count < 2) throw new RangeError(`featureStats: need at least 2 vectors, got ${count}`);
  if (features.length !== count * dim) throw new RangeError(`featureStats: ${count} vectors of width ${dim} are ${count * dim} values, got ${features.length}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let i = 0; i < dim; i++) mean[i] += features[r * dim + i];
  for (let i = 0; i < dim; i++) mean[i] /= count;
  const cov = new Float64Array(dim * dim);
  const centered = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) centered[i] = features[r * dim + i] - mean[i];
    for (let i = 0; i < dim; i++) {
      const ci = centered[i];
      for (let j = i; j < dim; j++) cov[i * dim + j] += ci * centered[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      cov[i * dim + j] /= count - 1;
      cov[j * dim + i] = cov[i * dim + j];
    }
  }
  return { dim, count, mean, cov };
}

export function frechetDistance(a: FeatureStats, b: FeatureStats): number {
  if (a.dim !== b.dim) throw new RangeError(`frechetDistance: feature widths differ (${a.dim} vs ${b.dim})`);
  const n = a.dim;
  let meanTerm = 0;
  for (let i = 0; i < n; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  let traces = 0;
  for (let i = 0; i < n; i++) traces += a.cov[i * n + i] + b.cov[i * n + i];
  const root = sqrtmPsd(a.cov, n);
  const inner = matmul64(matmul64(root, b.cov, n), root, n);
  // Symmetrize: the products above are symmetric up to rounding, and Jacobi assumes exact symmetry.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) inner[i * n + j] = inner[j * n + i] = (inner[i * n + j] + inner[j * n + i]) / 2;
  const { values } = symmetricEigen(inner, n);
  let crossTrace = 0;
  for (const l of values) crossTrace += Math.sqrt(Math.max(0, l));
  // Rounding can leave a tiny negative value for identical sets; the distance is >= 0.
  return Math.max(0, meanTerm + traces - 2 * crossTrace);
}
