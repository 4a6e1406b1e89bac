// A training engine runs one optimizer step on a batch and holds the run's state (weights, AdamW moments, EMA). Two
// exist: TensorFlow.js (tfjs-engine.ts; its backends tensorflow-gpu, tensorflow, wasm, cpu) and onnxruntime
// (ort-engine.ts: the whole step as one ONNX graph). The training loop (train.ts) sees only this interface, so
// checkpoints, resume, signals, metrics and pictures behave the same on both, and a run can switch engines on resume.
import type { VelocityFn, Weights } from '@liquidflow/core';
import { type BackendName, isMissingModule, selectBackend } from '@liquidflow/tfjs';
import type { OptimizerState } from '@liquidflow/checkpoint';
import type { LossParts, PhysicsWeights } from './flow-loss.js';

export interface StepInput {
  /** Clean images and noise [B, C, H, W], times [B]. */
  x0: Float32Array;
  noise: Float32Array;
  t: Float32Array;
  lr: number;
  physics: PhysicsWeights;
  /** EMA decay for this step (ema.ts emaDecayAt). */
  emaDecay: number;
}

export interface TrainEngine {
  /** What runs the step, e.g. 'ort (cpu)' or 'tfjs (wasm)'. */
  readonly description: string;
  /**
   * One step: loss and gradients at the current weights, clipping, AdamW, then the EMA of the new weights. Throws
   * NonFiniteLossError, leaving the state as it was, when the loss is NaN or infinite.
   */
  step(input: StepInput): Promise<LossParts>;
  /** Weights, EMA and optimizer state as plain arrays (what a checkpoint stores). */
  state(): Promise<{ weights: Weights; ema: Weights; optimizer: OptimizerState }>;
  /** The EMA weights' velocity, for sample grids. */
  emaVelocity(): Promise<VelocityFn>;
  dispose(): Promise<void>;
}

/** Engine names for --backend, fastest first (as measured by `npm run bench`; see the trainer README). */
export const ENGINE_PRIORITY = ['tensorflow-gpu', 'ort', 'tensorflow', 'wasm', 'cpu'] as const;
export type EngineName = (typeof ENGINE_PRIORITY)[number];

export interface EngineChoice {
  name: EngineName;
  /** Why each faster engine was passed over. */
  skipped: { name: EngineName; reason: string }[];
}

async function tryOrt(): Promise<void> {
  await import('onnxruntime-node');
}

/** With `requested`, only that engine is tried and a failure throws; 'auto' takes the first that starts. */
export async function selectEngine(requested: EngineName | 'auto' = 'auto'): Promise<EngineChoice> {
  if (requested !== 'auto' && !ENGINE_PRIORITY.includes(requested)) {
    throw new Error(`unknown backend '${requested}': expected auto or one of ${ENGINE_PRIORITY.join(', ')}`);
  }
  if (requested === 'ort') {
    try {
      await tryOrt();
    } catch (e) {
      throw new Error(`backend 'ort' is not available: ${(e as Error).message.split('\n')[0]} (install it with: npm i onnxruntime-node@1.30.0)`);
    }
    return { name: 'ort', skipped: [] };
  }
  if (requested !== 'auto') return selectBackend(requested);
  const skipped: EngineChoice['skipped'] = [];
  for (const name of ENGINE_PRIORITY) {
    try {
      if (name === 'ort') await tryOrt();
      else await selectBackend(name as BackendName);
      return { name, skipped };
    } catch (e) {
      const reason = isMissingModule(e) ? 'package not installed' : (e as Error).message.split('\n')[0];
      skipped.push({ name, reason: reason.replace(/^backend '[^']+' is not available: /, '').replace(/ \(install it with.*$/, '') });
    }
  }
  throw new Error(`no training engine could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

export function describeEngineChoice(c: EngineChoice): string {
  const why = c.skipped.length ? ` (${c.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : '';
  const what = c.name === 'ort' ? 'ort: the training step as one ONNX graph on onnxruntime-node' : `TensorFlow.js ${c.name}`;
  return `training engine: ${what}${why}`;
}
