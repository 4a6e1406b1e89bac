// The health check before a save replaces the previous checkpoint: finite weights, a bounded norm growth per save.
import { describe, expect, it } from 'vitest';
import { NonFiniteWeightsError } from '@liquidflow/checkpoint';
import { CheckpointGuard, ExplodedWeightsError, MAX_WEIGHT_NORM_GROWTH } from '@liquidflow/trainer';

const sets = (w: number[], ema = w) => ({ weights: { a: Float32Array.from(w) }, ema: { a: Float32Array.from(ema) } });
const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
};

describe('CheckpointGuard', () => {
  it('passes growth up to the bound and refuses more, naming the folder, the step, both norms and the last save', () => {
    const g = new CheckpointGuard(sets([3, 4]), null); // norm 5
    const ok = g.check(sets([3 * MAX_WEIGHT_NORM_GROWTH, 4 * MAX_WEIGHT_NORM_GROWTH]), 'run', 10);
    expect(ok.weights).toBeCloseTo(5 * MAX_WEIGHT_NORM_GROWTH);
    const e = failure(() => g.check(sets([30, 40.1]), 'run', 10));
    expect(e).toBeInstanceOf(ExplodedWeightsError);
    expect(e.message).toBe(`cannot save run at step 10: the weights norm grew from 5.000 to 50.08 since the start of the run, more than ${MAX_WEIGHT_NORM_GROWTH}x (the run is diverging)`);
    expect(g.describe()).toBe('No checkpoint of this run passed its health check yet');
    g.saved(ok, 'run', 10);
    expect(g.lastGood).toEqual({ dir: 'run', step: 10 });
    // The bound is relative to the last save, not to the start.
    expect(() => g.check(sets([12 * 3.9, 16 * 3.9]), 'run', 20)).not.toThrow();
    expect(failure(() => g.check(sets([12 * 5, 16 * 5]), 'run', 20)).message).toContain('from 20.00 to 100.0 since step 10');
  });

  it('checks the EMA on its own, and names a non-finite tensor', () => {
    const g = new CheckpointGuard(sets([1, 1]), { dir: 'resumed', step: 7 });
    expect(g.describe()).toBe('The last good checkpoint is resumed (step 7)');
    expect(failure(() => g.check(sets([1, 1], [100, 100]), 'out', 8)).message).toContain('the ema norm grew from 1.414 to 141.4 since step 7');
    const nan = failure(() => g.check(sets([1, NaN]), 'out', 8));
    expect(nan).toBeInstanceOf(NonFiniteWeightsError);
    expect(nan.message).toBe("cannot save out at step 8: weights 'a' contains NaN");
    expect(failure(() => g.check(sets([1, 1], [-Infinity, 0]), 'out', 8)).message).toBe("cannot save out at step 8: ema 'a' contains Infinity");
    // Huge but finite float32 values square without overflow in float64: an explosion, not a non-finite value.
    expect(failure(() => g.check(sets([3e38, 3e38]), 'out', 8))).toBeInstanceOf(ExplodedWeightsError);
  });
});
