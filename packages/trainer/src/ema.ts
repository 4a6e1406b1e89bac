// Exponential moving average of the weights: shadow = d * shadow + (1 - d) * weights, with the usual warm-up of the
// decay, d = min(decay, (1 + step) / (10 + step)), so early shadows are not dominated by the random init.
import * as tf from '@tensorflow/tfjs';
import type { TfModel } from '@liquidflow/tfjs';

export function emaDecayAt(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}

/** Moves every variable of `shadow` toward the matching variable of `model`. */
export function updateEma(shadow: TfModel, model: TfModel, decay: number): void {
  tf.tidy(() => {
    for (const [name, w] of model.variables) {
      const s = shadow.variables.get(name) as tf.Variable;
      s.assign(tf.add(tf.mul(s, decay), tf.mul(w, 1 - decay)));
    }
  });
}
