// The model's weights as TF.js variables plus a forward pass through its family's architecture.
import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, type Weights, modelForward, paramSpecs } from '@liquidflow/core';
import { TfOps } from './ops-tfjs.js';

export class TfModel {
  readonly variables: Map<string, tf.Variable>;
  readonly ops: TfOps;

  constructor(
    readonly config: ModelConfig,
    weights: Weights,
  ) {
    this.variables = new Map();
    for (const spec of paramSpecs(config)) {
      const data = weights[spec.name];
      if (!data) throw new Error(`weights lack parameter '${spec.name}'`);
      // tf.variable copies its initial value; the temporary tensor must go, or every model leaks a weight copy.
      const initial = tf.tensor(data, spec.shape, 'float32');
      this.variables.set(spec.name, tf.variable(initial, true));
      initial.dispose();
    }
    this.ops = new TfOps(this.variables);
  }

  /** v(x_t, t): x [B, C, H, W], t [B]. */
  forward(x: tf.Tensor, t: tf.Tensor): tf.Tensor {
    return modelForward(this.ops, this.config, x, t);
  }

  /** Current weights as plain arrays (what a checkpoint stores). */
  async weights(): Promise<Weights> {
    const out: Weights = {};
    for (const [name, v] of this.variables) out[name] = (await v.data()) as Float32Array;
    return out;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.ops.dispose();
  }
}
