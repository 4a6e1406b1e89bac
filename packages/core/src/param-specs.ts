// What parameters a config has, found by tracing its family's model symbolically (no math is done).
import { type ModelConfig, modelForward } from './families/registry.js';
import { OnnxOps } from './ops-onnx.js';
import { type ParamSpec, type Weights, initWeights, sizeOf } from './param-init.js';

export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const ops = new OnnxOps();
  modelForward(ops, cfg, ops.input('x', [-1, cfg.in_channels, cfg.img_size, cfg.img_size]), ops.input('t', [-1]));
  return ops.specs;
}

export function countParams(cfg: ModelConfig): number {
  return paramSpecs(cfg).reduce((n, s) => n + sizeOf(s.shape), 0);
}

/** Fresh weights for a config, deterministic in the seed. */
export function initModelWeights(cfg: ModelConfig, seed: number): Weights {
  return initWeights(paramSpecs(cfg), seed);
}
