// Learning rate: linear warm-up, then constant. It depends on the step alone (not on the run's length), so that
// --steps 10 followed by --resume --steps 20 trains exactly like one --steps 20 run.
export function learningRate(step: number, warmup: number, peak: number): number {
  return warmup > 0 && step < warmup ? (peak * (step + 1)) / warmup : peak;
}

/** Physics-loss weight multiplier: linear from 0 to 1 over the first `warmup` steps (the seed's 500). */
export function physicsWarmup(step: number, warmup: number): number {
  return warmup <= 0 ? 1 : Math.min(1, step / warmup);
}
