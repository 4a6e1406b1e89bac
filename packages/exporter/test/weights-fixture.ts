// Weights for parity tests: a fresh init with every parameter perturbed, so that no path is trivially zero
// (fresh AdaLN gates and biases are small or zero, which would let a broken branch go unnoticed).
import { type ModelConfig, type Weights, Rng, hashString, initModelWeights } from '@liquidflow/core';

export function perturbedWeights(cfg: ModelConfig, seed: number, scale = 0.05): Weights {
  const w = initModelWeights(cfg, seed);
  for (const [name, arr] of Object.entries(w)) {
    const rng = new Rng(seed + 1, hashString(name));
    for (let i = 0; i < arr.length; i++) arr[i] += scale * rng.normal();
  }
  return w;
}
