// Learning rate: linear warm-up, constant, then (with --lr_decay_steps) a linear decay to zero over the run's last
// steps, the warm-up/stable/decay shape. Before the decay it depends on the step alone, so --steps 10 followed by
// --resume --steps 20 trains exactly like one --steps 20 run; the decay is tied to the run's end (--steps).
export function learningRate(step: number, warmup: number, peak: number, decaySteps = 0, total = Infinity): number {
  const warm = warmup > 0 && step < warmup ? (step + 1) / warmup : 1;
  const decay = decaySteps > 0 && step >= total - decaySteps ? Math.max(0, total - step) / decaySteps : 1;
  return peak * Math.min(warm, decay);
}

/** Physics-loss weight multiplier: linear from 0 to 1 over the first `warmup` steps (the seed's 500). */
export function physicsWarmup(step: number, warmup: number): number {
  return warmup <= 0 ? 1 : Math.min(1, step / warmup);
}
