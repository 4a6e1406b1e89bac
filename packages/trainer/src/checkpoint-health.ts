// The health check a save must pass before it replaces the previous checkpoint: every weight finite, and the weight
// norm not grown by more than MAX_WEIGHT_NORM_GROWTH since the last save. A diverging run blows its weights up to
// huge but finite values for a few steps before the loss turns NaN; without the norm check those would be saved over
// the last good checkpoint and then called "the last good checkpoint".
import type { Weights } from '@liquidflow/core';
import { CheckpointError, NonFiniteWeightsError } from '@liquidflow/checkpoint';

/**
 * The most the L2 norm of the weights (or of the EMA) may grow between two saves. A healthy run moves it by percents
 * over the whole run (the shipped fashion-mnist-tiny: +5% in 7800 steps); a diverged update multiplies it by 1e10+.
 */
export const MAX_WEIGHT_NORM_GROWTH = 4;

export class ExplodedWeightsError extends CheckpointError {
  override name = 'ExplodedWeightsError';
}

export interface SavedCheckpoint {
  dir: string;
  step: number;
}

type Sets = { weights: Weights; ema: Weights };

/** L2 norm in float64 (float32 squares of values up to 3.4e38 fit); names the first tensor that is not finite. */
function norm(w: Weights, label: string, where: string): number {
  let sum = 0;
  for (const [name, a] of Object.entries(w)) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * a[i];
    if (!Number.isFinite(s)) throw new NonFiniteWeightsError(`${where}: ${label} '${name}' contains ${Number.isNaN(s) ? 'NaN' : 'Infinity'}`);
    sum += s;
  }
  return Math.sqrt(sum);
}

/** Tracks the last checkpoint that passed; check() before a save, saved() after it. */
export class CheckpointGuard {
  private norms: { weights: number; ema: number };

  /** `start`: the weights the run starts from; `lastGood`: the checkpoint they came from, if any (a resume). */
  constructor(start: Sets, private good: SavedCheckpoint | null, readonly maxGrowth = MAX_WEIGHT_NORM_GROWTH) {
    this.norms = { weights: norm(start.weights, 'weights', 'starting point'), ema: norm(start.ema, 'ema', 'starting point') };
  }

  /** The last checkpoint that passed the check, or null when this run has none (a fresh run before its first save). */
  get lastGood(): SavedCheckpoint | null {
    return this.good;
  }

  /** Throws NonFiniteWeightsError or ExplodedWeightsError when `state` must not replace the previous checkpoint. */
  check(state: Sets, dir: string, step: number): { weights: number; ema: number } {
    const where = `cannot save ${dir} at step ${step}`;
    const now = { weights: norm(state.weights, 'weights', where), ema: norm(state.ema, 'ema', where) };
    const since = this.good ? `since step ${this.good.step}` : 'since the start of the run';
    for (const label of ['weights', 'ema'] as const) {
      // A zero norm (all-zero weights) has no scale to grow from.
      if (this.norms[label] > 0 && now[label] > this.maxGrowth * this.norms[label]) {
        throw new ExplodedWeightsError(
          `${where}: the ${label} norm grew from ${this.norms[label].toPrecision(4)} to ${now[label].toPrecision(4)} ${since}, ` +
            `more than ${this.maxGrowth}x (the run is diverging)`,
        );
      }
    }
    return now;
  }

  /** Records a checkpoint that passed check() and was written. */
  saved(norms: { weights: number; ema: number }, dir: string, step: number): void {
    this.norms = norms;
    this.good = { dir, step };
  }

  /** 'The last good checkpoint is DIR (step N)', or that there is none. */
  describe(): string {
    return this.good ? `The last good checkpoint is ${this.good.dir} (step ${this.good.step})` : 'No checkpoint of this run passed its health check yet';
  }
}
