// Shared by the selective-scan tests: how far a float32 result is from a float64 reference.

/** Max |y - ref| over max |ref|, whether every y is finite, and max |ref|. */
export function relErr(y: Float32Array, ref: Float64Array): { err: number; finite: boolean; refMax: number } {
  let maxDiff = 0;
  let refMax = 0;
  let finite = true;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(y[i])) finite = false;
    maxDiff = Math.max(maxDiff, Math.abs(y[i] - ref[i]));
    refMax = Math.max(refMax, Math.abs(ref[i]));
  }
  return { err: maxDiff / refMax, finite, refMax };
}
