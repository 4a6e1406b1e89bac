// The TensorFlow.js engine: TfModel's variables differentiated by tf.variableGrads, AdamW and the EMA as tf ops. It is
// the reference the ONNX engine is held to.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, VelocityFn, Weights } from '@liquidflow/core';
import { AdamW, type AdamWOptions } from './adamw.js';
import type { OptimizerState } from '@liquidflow/checkpoint';
import { updateEma } from './ema.js';
import type { StepInput, TrainEngine } from './engine.js';
import { type LossParts, trainStep } from './flow-loss.js';
import { TfModel, tfjsVelocity } from '@liquidflow/tfjs';

export class TfjsEngine implements TrainEngine {
  readonly description: string;
  private readonly model: TfModel;
  private readonly ema: TfModel;
  private readonly opt: AdamW;

  constructor(
    private readonly config: ModelConfig,
    start: { weights: Weights; ema: Weights; optimizer?: OptimizerState },
    adam: AdamWOptions,
  ) {
    this.description = `tfjs (${tf.getBackend()})`;
    this.model = new TfModel(config, start.weights);
    this.ema = new TfModel(config, start.ema);
    this.opt = new AdamW(this.model.variables, adam);
    if (start.optimizer) this.opt.load(start.optimizer);
  }

  async step(b: StepInput): Promise<LossParts> {
    const s = this.config.img_size;
    const x0 = tf.tensor(b.x0, [b.t.length, this.config.in_channels, s, s]);
    const noise = tf.tensor(b.noise, x0.shape);
    const t = tf.tensor1d(b.t);
    try {
      const parts = trainStep(this.model, this.opt, x0, noise, t, b.physics, b.lr);
      updateEma(this.ema, this.model, b.emaDecay);
      return parts;
    } finally {
      tf.dispose([x0, noise, t]);
    }
  }

  async state() {
    return { weights: await this.model.weights(), ema: await this.ema.weights(), optimizer: await this.opt.state() };
  }

  async emaVelocity(): Promise<VelocityFn> {
    return tfjsVelocity(this.ema);
  }

  async dispose(): Promise<void> {
    this.model.dispose();
    this.ema.dispose();
    this.opt.dispose();
  }
}
