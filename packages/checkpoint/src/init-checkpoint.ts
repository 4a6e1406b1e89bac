// A freshly initialized checkpoint: weights from the config's param specs and the seed; EMA starts equal to them.
import { type ModelConfig, initModelWeights } from '@liquidflow/core';
import type { Checkpoint } from './checkpoint.js';

export function freshCheckpoint(config: ModelConfig, seed: number): Checkpoint {
  const weights = initModelWeights(config, seed);
  const ema: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(weights)) ema[k] = v.slice();
  return { config, step: 0, seed, weights, ema };
}
