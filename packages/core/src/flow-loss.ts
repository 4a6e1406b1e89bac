// The training objective, written once against Ops (TF.js differentiates it; the ONNX training step appends its
// gradient graph). Rectified flow (time convention in flow.ts):
//   x_t = (1 - t) x0 + t noise,   target v = noise - x0,   L_flow = mean (v_theta(x_t, t) - v)^2
// plus the seed's physics-informed terms on the predicted clean image x0_hat = x_t - t v_theta:
//   L_smooth = mean (laplacian x0_hat)^2,   L_tv = mean |dy x0_hat| + mean |dx x0_hat|
// weighted by lambda * warmup (the trainer passes the weights; lr-schedule.ts has the warm-up).
import type { Operand, Ops } from './ops.js';

export interface LossTerms<T> {
  total: T;
  flow: T;
  /** Absent when the physics terms were skipped (both weights the number 0). */
  smooth?: T;
  tv?: T;
}

/** Mean of every element, as a scalar []. */
export function meanAll<T>(ops: Ops<T>, x: T): T {
  return ops.reshape(ops.reduceMean(ops.reshape(x, [1, -1]), 1), []);
}

/** 5-point Laplacian of [B, C, H, W] on the interior (shifted slices: no conv kernel needed). */
function laplacian<T>(ops: Ops<T>, x: T): T {
  const [, , h, w] = ops.shape(x);
  const s = (dy: number, dx: number) => ops.slice(ops.slice(x, 2, 1 + dy, h - 1 + dy), 3, 1 + dx, w - 1 + dx);
  const around = ops.add(ops.add(ops.add(s(-1, 0), s(1, 0)), s(0, -1)), s(0, 1));
  return ops.sub(around, ops.mul(s(0, 0), 4));
}

function totalVariation<T>(ops: Ops<T>, x: T): T {
  const [, , h, w] = ops.shape(x);
  const dy = ops.sub(ops.slice(x, 2, 1, h), ops.slice(x, 2, 0, h - 1));
  const dx = ops.sub(ops.slice(x, 3, 1, w), ops.slice(x, 3, 0, w - 1));
  return ops.add(meanAll(ops, ops.abs(dy)), meanAll(ops, ops.abs(dx)));
}

/**
 * The loss of `velocity` on a batch: x0 and noise [B, C, H, W], t [B]. Physics weights given as numbers that are both
 * 0 skip the physics terms; given as values (the ONNX step's inputs), they are always computed.
 */
export function flowMatchingLoss<T>(
  ops: Ops<T>, velocity: (xt: T, t: T) => T, x0: T, noise: T, t: T, physics: { smooth: Operand<T>; tv: Operand<T> },
): LossTerms<T> {
  const tb = ops.reshape(t, [-1, 1, 1, 1]);
  const xt = ops.add(ops.mul(ops.add(ops.neg(tb), 1), x0), ops.mul(tb, noise));
  const pred = velocity(xt, t);
  const err = ops.sub(pred, ops.sub(noise, x0));
  const flow = meanAll(ops, ops.mul(err, err));
  if (physics.smooth === 0 && physics.tv === 0) return { total: flow, flow };
  const x0hat = ops.sub(xt, ops.mul(tb, pred));
  const lap = laplacian(ops, x0hat);
  const smooth = meanAll(ops, ops.mul(lap, lap));
  const tv = totalVariation(ops, x0hat);
  const total = ops.add(flow, ops.add(ops.mul(smooth, physics.smooth), ops.mul(tv, physics.tv)));
  return { total, flow, smooth, tv };
}
