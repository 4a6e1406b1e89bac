// The TensorFlow.js engine: TfModel's variables differentiated by tf.variableGrads, AdamW and the EMA as tf ops. It is
// the reference the ONNX engine is held to.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig, VelocityFn, Weights } from '@liquidflow/core';
import { AdamW, type AdamWOptions } from './adamw.js';
import type { OptimizerState } from '@liquidflow/checkpoint';
import { updateEma } from './ema.js';
import type { StepInput, TrainEngine } from './engine.js';
import { type LossParts, trainStep } from './flow-loss.js';
import { TfModel, isWasmHeapExhausted, tfjsVelocity } from '@liquidflow/tfjs';

export class TfjsEngine implements TrainEngine {
  readonly description: string;
  private readonly model: TfModel;
  private readonly ema: TfModel;
  private readonly opt: AdamW;
  /** The wasm module aborted (heap exhausted): every later call into it faults, disposing included. */
  private heapLost = false;

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
    } catch (e) {
      const explained = explainWasmFailure(e, tf.getBackend(), this.config, b.t.length);
      this.heapLost = explained !== e;
      throw explained;
    } finally {
      if (!this.heapLost) tf.dispose([x0, noise, t]);
    }
  }

  async state() {
    return { weights: await this.model.weights(), ema: await this.ema.weights(), optimizer: await this.opt.state() };
  }

  async emaVelocity(): Promise<VelocityFn> {
    return tfjsVelocity(this.ema);
  }

  async dispose(): Promise<void> {
    if (this.heapLost) return; // nothing left to free, and trying would replace the step's error with a fault
    this.model.dispose();
    this.ema.dispose();
    this.opt.dispose();
  }
}

/**
 * The wasm backend's heap is one wasm32 memory (4 GB at most): a step whose activations do not fit aborts inside
 * XNNPACK with "memory access out of bounds", which names neither the cause nor a way out. This says both; other
 * errors pass through unchanged.
 */
export function explainWasmFailure(e: unknown, backend: string, cfg: ModelConfig, batch: number): unknown {
  if (!isWasmHeapExhausted(e, backend)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new Error(
    `the wasm backend ran out of memory in a training step (${cfg.arch} ${cfg.variant} ${cfg.img_size}px at --batch_size ${batch}; ` +
      `its heap is one wasm32 memory of at most 4 GB): lower --batch_size or use --backend ort, which has no such limit (${message})`,
  );
}
