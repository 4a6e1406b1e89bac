// How each parameter starts. The model names an init next to each param; initWeights turns specs into arrays with a
// per-parameter stream, so adding a parameter never changes the others' initial values.
import { Rng, hashString } from './prng.js';

export type ParamInit =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  /** Xavier/Glorot uniform for a [fanIn, fanOut] matrix. */
  | { kind: 'xavier' }
  /** Mamba's A_log: log of A drawn uniformly in [1, 16] per head. */
  | { kind: 'a_log' }
  /** Mamba's dt bias: softplus^-1 of dt drawn log-uniformly in [1e-3, 1e-1]. */
  | { kind: 'dt_bias' }
  /** Mamba-1's A_log, channels x `state` values (S4D-real): log(1..state) in every channel, no randomness. */
  | { kind: 's4d_real'; state: number }
  /** Uniform in [-bound, bound] (Mamba-1's dt_proj weight: bound = dt_rank^-0.5). */
  | { kind: 'uniform'; bound: number }
  /** Fixed 2D sine-cosine position table [1, grid*grid, dim], learnable afterwards. */
  | { kind: 'sincos2d'; grid: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
}

export type Weights = Record<string, Float32Array>;

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function initParam(spec: ParamSpec, seed: number): Float32Array {
  const n = sizeOf(spec.shape);
  const out = new Float32Array(n);
  const rng = new Rng(seed, hashString(spec.name));
  const init = spec.init;
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'normal':
      return rng.fillNormal(out, init.std);
    case 'xavier': {
      const fanIn = spec.shape[0];
      const fanOut = spec.shape[spec.shape.length - 1];
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * bound;
      return out;
    }
    case 'a_log':
      for (let i = 0; i < n; i++) out[i] = Math.log(1 + 15 * rng.uniform());
      return out;
    case 'dt_bias':
      for (let i = 0; i < n; i++) {
        const dt = Math.exp(Math.log(1e-3) + rng.uniform() * (Math.log(1e-1) - Math.log(1e-3)));
        out[i] = dt + Math.log(-Math.expm1(-dt)); // inverse softplus
      }
      return out;
    case 's4d_real':
      for (let i = 0; i < n; i++) out[i] = Math.log(1 + (i % init.state));
      return out;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
      return out;
    case 'sincos2d': {
      const dim = spec.shape[spec.shape.length - 1];
      const quarter = Math.floor(dim / 4);
      for (let r = 0; r < init.grid; r++) {
        for (let c = 0; c < init.grid; c++) {
          const base = (r * init.grid + c) * dim;
          for (let k = 0; k < quarter; k++) {
            const w = 1 / Math.pow(10000, k / quarter);
            out[base + k] = Math.sin(r * w);
            out[base + quarter + k] = Math.cos(r * w);
            out[base + 2 * quarter + k] = Math.sin(c * w);
            out[base + 3 * quarter + k] = Math.cos(c * w);
          }
        }
      }
      return out;
    }
  }
}

export function initWeights(specs: readonly ParamSpec[], seed: number): Weights {
  const w: Weights = {};
  for (const s of specs) w[s.name] = initParam(s, seed);
  return w;
}
