// The onnxruntime engine: the whole training step (forward, loss, gradients, clipping, AdamW, EMA) is one ONNX graph
// built from the same model and loss code TF.js trains (core training-step.ts), run by onnxruntime-node. The state
// lives in four flat float32 vectors (core flat-params.ts) that each step takes in and returns, so nothing but the
// batch and six scalars is converted per step.
import * as ort from 'onnxruntime-node';
import {
  type FlatLayout, METADATA_KEY, type ModelConfig, ONNX_INPUT, ONNX_OUTPUT, type VelocityFn, type Weights, buildFlatVelocity, buildTrainingStep,
  flatten, unflatten,
} from '@liquidflow/core';
import type { OptimizerState } from '@liquidflow/checkpoint';
import { encodeModel } from '@liquidflow/exporter';
import { type NodeDevice, openSession } from '@liquidflow/runtime-node';
import type { AdamWOptions } from './adamw.js';
import type { StepInput, TrainEngine } from './engine.js';
import { type LossParts, NonFiniteLossError } from './flow-loss.js';

export interface OrtEngineOptions {
  /** Images per step: the graph has static shapes, so it is built for one batch size. */
  batch: number;
  device: NodeDevice;
  /** ORT intra-op threads (undefined: ORT's default, one per core). */
  threads?: number;
}

interface FlatState {
  weights: Float32Array;
  adam_m: Float32Array;
  adam_v: Float32Array;
  ema: Float32Array;
}

export class OrtEngine implements TrainEngine {
  private velocitySession?: ort.InferenceSession;

  private constructor(
    readonly description: string,
    /** The device the step runs on, and why it was chosen (runtime-node's openSession). */
    readonly device: 'cpu' | 'cuda',
    readonly deviceReason: string,
    private readonly config: ModelConfig,
    private readonly adam: AdamWOptions,
    private readonly opts: OrtEngineOptions,
    private readonly layout: FlatLayout,
    private readonly session: ort.InferenceSession,
    private state_: FlatState,
    private optStep: number,
    /** Graph facts for logs and the bench. */
    readonly info: { nodes: number; forwardFlops: number; sessionSeconds: number },
  ) {}

  static async create(
    config: ModelConfig, start: { weights: Weights; ema: Weights; optimizer?: OptimizerState }, adam: AdamWOptions, opts: OrtEngineOptions,
  ): Promise<OrtEngine> {
    const built = buildTrainingStep(config, opts.batch, { beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps, weightDecay: adam.weightDecay, clipNorm: adam.clipNorm });
    const t0 = performance.now();
    const opened = await openSession(encodeModel(built.graph, { [METADATA_KEY.config]: JSON.stringify(config) }), opts.device, opts.threads, 'the training-step graph');
    const sessionSeconds = (performance.now() - t0) / 1000;
    const { layout } = built;
    const zeros = () => new Float32Array(layout.size);
    const state: FlatState = {
      weights: flatten(layout, start.weights, 'weights'),
      ema: flatten(layout, start.ema, 'ema weights'),
      adam_m: start.optimizer ? flatten(layout, start.optimizer.m, 'optimizer moments (m)') : zeros(),
      adam_v: start.optimizer ? flatten(layout, start.optimizer.v, 'optimizer moments (v)') : zeros(),
    };
    return new OrtEngine(`ort (${opened.device})`, opened.device, opened.reason, config, adam, opts, layout, opened.session, state, start.optimizer?.step ?? 0,
      { nodes: built.graph.nodes.length, forwardFlops: built.forwardFlops, sessionSeconds });
  }

  async step(b: StepInput): Promise<LossParts> {
    const { in_channels: c, img_size: s } = this.config;
    const B = this.opts.batch;
    if (b.t.length !== B || b.x0.length !== B * c * s * s || b.noise.length !== b.x0.length) {
      throw new RangeError(`the ORT step graph is built for batch ${B} of ${c}x${s}x${s} images; got ${b.t.length} times and ${b.x0.length} pixel values ` +
        '(rebuild the engine for another --batch_size or --img_size)');
    }
    const n = this.layout.size;
    const vec = (d: Float32Array) => new ort.Tensor('float32', d, [n]);
    const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);
    const image = [B, c, s, s];
    const t = this.optStep + 1;
    const out = await this.session.run({
      weights: vec(this.state_.weights), adam_m: vec(this.state_.adam_m), adam_v: vec(this.state_.adam_v), ema: vec(this.state_.ema),
      x0: new ort.Tensor('float32', b.x0, image), noise: new ort.Tensor('float32', b.noise, image), t: new ort.Tensor('float32', b.t, [B]),
      lr: scalar(b.lr),
      // 1 - beta^t in float64, as the TF.js optimizer computes it (float32 would lose ~1e-4 of 1 - 0.999^1).
      bias_correction1: scalar(1 - Math.pow(this.adam.beta1, t)),
      bias_correction2: scalar(1 - Math.pow(this.adam.beta2, t)),
      ema_decay: scalar(b.emaDecay), lambda_smooth: scalar(b.physics.smooth), lambda_tv: scalar(b.physics.tv),
    });
    const read = (name: string) => (out[name].data as Float32Array)[0];
    // Without physics weights the TF.js engine skips those terms and reports 0; report the same.
    const physics = b.physics.smooth !== 0 || b.physics.tv !== 0;
    const parts: LossParts = {
      total: read('loss'), flow: read('flow'), smooth: physics ? read('smooth') : 0, tv: physics ? read('tv') : 0, gradNorm: read('grad_norm'),
    };
    if (!Number.isFinite(parts.total)) throw new NonFiniteLossError(parts.total, parts); // the state is left as it was
    this.state_ = {
      weights: out.weights_out.data as Float32Array, adam_m: out.adam_m_out.data as Float32Array,
      adam_v: out.adam_v_out.data as Float32Array, ema: out.ema_out.data as Float32Array,
    };
    this.optStep = t;
    return parts;
  }

  async state() {
    return {
      weights: unflatten(this.layout, this.state_.weights),
      ema: unflatten(this.layout, this.state_.ema),
      optimizer: { step: this.optStep, m: unflatten(this.layout, this.state_.adam_m), v: unflatten(this.layout, this.state_.adam_v) },
    };
  }

  async emaVelocity(): Promise<VelocityFn> {
    if (!this.velocitySession) {
      const { graph } = buildFlatVelocity(this.config);
      this.velocitySession = (await openSession(encodeModel(graph, {}), this.device, this.opts.threads, 'the EMA velocity graph')).session;
    }
    const session = this.velocitySession;
    const weights = new ort.Tensor('float32', this.state_.ema, [this.layout.size]);
    return async (x, t, shape) => {
      const out = await session.run({ weights, [ONNX_INPUT.image]: new ort.Tensor('float32', x, [...shape]), [ONNX_INPUT.time]: new ort.Tensor('float32', t, [t.length]) });
      return out[ONNX_OUTPUT.velocity].data as Float32Array;
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.velocitySession?.release();
  }
}
