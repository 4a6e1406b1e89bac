// The rectified-flow objective (time convention in @liquidflow/core flow.ts):
//   x_t = (1 - t) x0 + t noise,   target v = noise - x0,   loss = mean (v_theta(x_t, t) - v)^2
import * as tf from '@tensorflow/tfjs';
import type { TfModel } from './tfjs-model.js';

export function flowMatchingLoss(model: TfModel, x0: tf.Tensor, noise: tf.Tensor, t: tf.Tensor): tf.Scalar {
  const tb = tf.reshape(t, [-1, 1, 1, 1]);
  const xt = tf.add(tf.mul(tf.sub(1, tb), x0), tf.mul(tb, noise));
  const target = tf.sub(noise, x0);
  const pred = model.forward(xt, t);
  return tf.mean(tf.square(tf.sub(pred, target))) as tf.Scalar;
}

/** One optimizer step on a batch; returns the loss before the update. */
export function trainStep(
  model: TfModel,
  optimizer: { apply(grads: Record<string, tf.Tensor>): number },
  x0: tf.Tensor,
  noise: tf.Tensor,
  t: tf.Tensor,
): number {
  return tf.tidy(() => {
    const vars = [...model.variables.values()];
    const names = [...model.variables.keys()];
    const { value, grads } = tf.variableGrads(() => flowMatchingLoss(model, x0, noise, t), vars);
    const byName: Record<string, tf.Tensor> = {};
    // variableGrads keys by the variable's tfjs name; map back to checkpoint names.
    vars.forEach((v, i) => (byName[names[i]] = grads[v.name]));
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
    optimizer.apply(byName);
    return loss;
  });
}
