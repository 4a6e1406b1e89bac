// One TF.js training step: the loss (defined once, in @liquidflow/core flow-loss.ts) differentiated by TF.js, then
// the optimizer. The ONNX engine (ort-engine.ts) appends the same loss's gradient graph instead.
import * as tf from '@tensorflow/tfjs';
import { flowMatchingLoss as coreFlowLoss } from '@liquidflow/core';
import type { TfModel } from '@liquidflow/tfjs';

export interface PhysicsWeights {
  smooth: number;
  tv: number;
}

export interface LossParts {
  total: number;
  flow: number;
  smooth: number;
  tv: number;
  /** Global gradient norm before clipping (NaN where not measured). */
  gradNorm: number;
}

/** Returns the total loss (for gradients) and its parts (kept scalars, for logging): core's one definition of it. */
export function flowMatchingLoss(model: TfModel, x0: tf.Tensor, noise: tf.Tensor, t: tf.Tensor, physics: PhysicsWeights = { smooth: 0, tv: 0 }) {
  const l = coreFlowLoss(model.ops, (xt, tt) => model.forward(xt, tt), x0, noise, t, physics);
  return { total: l.total as tf.Scalar, flow: l.flow, smooth: l.smooth ?? tf.scalar(0), tv: l.tv ?? tf.scalar(0) };
}

/** One optimizer step on a batch; returns the loss parts measured before the update. */
export function trainStep(
  model: TfModel,
  optimizer: { apply(grads: Record<string, tf.Tensor>, lr?: number): number },
  x0: tf.Tensor,
  noise: tf.Tensor,
  t: tf.Tensor,
  physics: PhysicsWeights = { smooth: 0, tv: 0 },
  lr?: number,
): LossParts {
  return tf.tidy(() => {
    const vars = [...model.variables.values()];
    const names = [...model.variables.keys()];
    let parts: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const l = flowMatchingLoss(model, x0, noise, t, physics);
      parts = [tf.keep(l.flow), tf.keep(l.smooth), tf.keep(l.tv)];
      return l.total;
    }, vars);
    const byName: Record<string, tf.Tensor> = {};
    // variableGrads keys by the variable's tfjs name; map back to checkpoint names.
    vars.forEach((v, i) => (byName[names[i]] = grads[v.name]));
    const total = value.dataSync()[0];
    const [flow, smooth, tv] = parts.map((p) => p.dataSync()[0]);
    parts.forEach((p) => p.dispose());
    if (!Number.isFinite(total)) throw new NonFiniteLossError(total, { total, flow, smooth, tv, gradNorm: NaN });
    const gradNorm = optimizer.apply(byName, lr);
    return { total, flow, smooth, tv, gradNorm };
  });
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(
    readonly value: number,
    readonly parts: LossParts,
  ) {
    super(`loss is ${value} (flow ${parts.flow}, smooth ${parts.smooth}, tv ${parts.tv})`);
  }
}
