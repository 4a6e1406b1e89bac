// The training objective. Rectified flow (time convention in @liquidflow/core flow.ts):
//   x_t = (1 - t) x0 + t noise,   target v = noise - x0,   L_flow = mean (v_theta(x_t, t) - v)^2
// plus the seed's physics-informed terms on the predicted clean image x0_hat = x_t - t v_theta:
//   L_smooth = mean (laplacian x0_hat)^2,   L_tv = mean |dx x0_hat| + mean |dy x0_hat|
// weighted by lambda * warmup (linear from 0 to 1 over the first physics_warmup steps).
import * as tf from '@tensorflow/tfjs';
import type { TfModel } from './tfjs-model.js';

export interface PhysicsWeights {
  smooth: number;
  tv: number;
}

export interface LossParts {
  total: number;
  flow: number;
  smooth: number;
  tv: number;
}

/** 5-point Laplacian of [B, C, H, W] on the interior (shifted slices: no conv kernel needed). */
function laplacian(x: tf.Tensor4D): tf.Tensor {
  const [b, c, h, w] = x.shape;
  const s = (dy: number, dx: number) => tf.slice(x, [0, 0, 1 + dy, 1 + dx], [b, c, h - 2, w - 2]);
  return tf.sub(tf.addN([s(-1, 0), s(1, 0), s(0, -1), s(0, 1)]), tf.mul(s(0, 0), 4));
}

function totalVariation(x: tf.Tensor4D): tf.Tensor {
  const [b, c, h, w] = x.shape;
  const dy = tf.sub(tf.slice(x, [0, 0, 1, 0], [b, c, h - 1, w]), tf.slice(x, [0, 0, 0, 0], [b, c, h - 1, w]));
  const dx = tf.sub(tf.slice(x, [0, 0, 0, 1], [b, c, h, w - 1]), tf.slice(x, [0, 0, 0, 0], [b, c, h, w - 1]));
  return tf.add(tf.mean(tf.abs(dy)), tf.mean(tf.abs(dx)));
}

/** Returns the total loss (for gradients) and its parts (kept scalars, for logging). */
export function flowMatchingLoss(model: TfModel, x0: tf.Tensor, noise: tf.Tensor, t: tf.Tensor, physics: PhysicsWeights = { smooth: 0, tv: 0 }) {
  const tb = tf.reshape(t, [-1, 1, 1, 1]);
  const xt = tf.add(tf.mul(tf.sub(1, tb), x0), tf.mul(tb, noise));
  const pred = model.forward(xt, t);
  const flow = tf.mean(tf.square(tf.sub(pred, tf.sub(noise, x0))));
  let total = flow;
  let smooth: tf.Tensor = tf.scalar(0);
  let tv: tf.Tensor = tf.scalar(0);
  if (physics.smooth > 0 || physics.tv > 0) {
    const x0hat = tf.sub(xt, tf.mul(tb, pred)) as tf.Tensor4D;
    smooth = tf.mean(tf.square(laplacian(x0hat)));
    tv = totalVariation(x0hat);
    total = tf.add(total, tf.add(tf.mul(smooth, physics.smooth), tf.mul(tv, physics.tv)));
  }
  return { total: total as tf.Scalar, flow, smooth, tv };
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
    if (!Number.isFinite(total)) throw new NonFiniteLossError(total, { total, flow, smooth, tv });
    optimizer.apply(byName, lr);
    return { total, flow, smooth, tv };
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
