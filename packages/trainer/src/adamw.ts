// AdamW (decoupled weight decay) with global-norm gradient clipping. Written out rather than tf.train.adam so that
// its state (moments, step) is plain data a checkpoint can hold.
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 };

export class AdamW {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: ReadonlyMap<string, tf.Variable>,
    readonly opts: AdamWOptions = DEFAULT_ADAMW,
  ) {
    for (const [name, p] of params) {
      // tf.variable copies its initial value, so the zeros are created and freed inside tidy.
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /** Applies one update; returns the gradient norm before clipping. `lr` overrides opts.lr (for schedules). */
  apply(grads: Record<string, tf.Tensor>, lr = this.opts.lr): number {
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.opts;
    this.step += 1;
    const t = this.step;
    return tf.tidy(() => {
      const sq = Object.values(grads).map((g) => tf.sum(tf.square(g)));
      const norm = tf.sqrt(tf.addN(sq));
      const normValue = norm.dataSync()[0];
      const scale = clipNorm > 0 && normValue > clipNorm ? clipNorm / normValue : 1;
      const c1 = 1 - Math.pow(beta1, t);
      const c2 = 1 - Math.pow(beta2, t);
      for (const [name, p] of this.params) {
        const g0 = grads[name];
        if (!g0) continue;
        const g = scale === 1 ? g0 : tf.mul(g0, scale);
        const m = this.m.get(name) as tf.Variable;
        const v = this.v.get(name) as tf.Variable;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        // Decoupled decay on matrices only; biases, norms' stand-ins and 1-D params are not decayed.
        const decay = p.rank >= 2 ? tf.mul(p, weightDecay) : null;
        p.assign(tf.sub(p, tf.mul(decay ? tf.add(update, decay) : update, lr)));
      }
      return normValue;
    });
  }

  /** Moments and step as plain arrays (for a checkpoint). */
  async state(): Promise<{ step: number; m: Record<string, Float32Array>; v: Record<string, Float32Array> }> {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [name, t] of this.m) m[name] = (await t.data()) as Float32Array;
    for (const [name, t] of this.v) v[name] = (await t.data()) as Float32Array;
    return { step: this.step, m, v };
  }

  /** Restores moments and step saved by state(). */
  load(state: { step: number; m: Record<string, Float32Array>; v: Record<string, Float32Array> }): void {
    this.step = state.step;
    for (const [name, t] of this.m) tf.tidy(() => t.assign(tf.tensor(state.m[name], t.shape)));
    for (const [name, t] of this.v) tf.tidy(() => t.assign(tf.tensor(state.v[name], t.shape)));
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
