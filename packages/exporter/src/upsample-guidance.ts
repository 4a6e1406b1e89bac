// Upsample guidance for rectified flow (DiM's upsample_guidance.py, after arXiv 2404.01709, rederived for
// x_t = (1 - t) x0 + t noise and v = noise - x0; the derivation is in ../README.md). A model exported at m times its
// trained size gets a second pass of the same weights at the trained size on the average-pooled input, and in the
// noisiest steps (t >= 1 - eta) the low frequencies of its velocity are moved toward what that pass predicts:
//   s = (1 - t) + t / m,  tau = t / (m s),  y = P(x_t) / s        (a valid trained-size sample at time tau)
//   u = v_low(y, tau)                                             (the trained-size model's velocity)
//   target = u / (m s) - (1 - 1/m) y                              (its estimate of P(v))
//   v' = v + w U(target - P(v))  where t >= 1 - eta, else v       (P: m x m average pooling, U: nearest upsampling)
// This file holds the formula twice: on plain arrays (the reference the tests hold the graph to) and as graph nodes.
import {
  type ModelConfig, type SymValue, type UpsampleGuidance, type Weights, ConfigError, OnnxOps, modelForward,
} from '@liquidflow/core';
import { type BuiltGraph, finishGraph, graphInputs } from './build-graph.js';

/** eta 0.3 is DiM's (the noisiest 30% of steps, where the global layout forms); scale 1 is DiM's ug_theta: P(v') = target. */
export const GUIDANCE_DEFAULTS = { eta: 0.3, scale: 1 } as const;

export interface GuidanceOptions {
  eta: number;
  scale: number;
}

/** Checks eta and scale; the message names the flag. */
export function checkGuidanceOptions(o: GuidanceOptions): void {
  if (!(o.eta > 0 && o.eta <= 1)) throw new ConfigError(`--guidance_eta must be in (0, 1] (guidance acts where t >= 1 - eta), got ${o.eta}`);
  if (!(o.scale > 0) || !Number.isFinite(o.scale)) throw new ConfigError(`--guidance_scale must be a positive number, got ${o.scale}`);
}

/** The pooling factor m = imgSize / trainedSize; an error unless it is an integer >= 2. */
export function guidanceFactor(trainedSize: number, imgSize: number): number {
  const m = imgSize / trainedSize;
  if (!Number.isInteger(m) || m < 2) {
    throw new ConfigError(
      `--upsample_guidance needs --img_size a multiple (2x or more) of the trained size ${trainedSize}, so that average pooling maps it onto the trained size; got ${imgSize}` +
        ` (try ${2 * trainedSize})`,
    );
  }
  return m;
}

// ---- the formula on arrays (NCHW, float32) ----

/** s = (1 - t) + t/m and tau = t / (m s): P(x_t) / s is a sample of the pooled data at time tau. */
export function guidanceTime(t: number, m: number): { s: number; tau: number } {
  const s = 1 - t + t / m;
  return { s, tau: t / (m * s) };
}

/** m x m average pooling of x [N, C, H, W] (H, W multiples of m). */
export function averagePool(x: Float32Array, dims: readonly number[], m: number): Float32Array {
  const [n, c, H, W] = dims;
  const h = H / m;
  const w = W / m;
  const out = new Float32Array(n * c * h * w);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) out[(p * h + Math.floor(i / m)) * w + Math.floor(j / m)] += x[(p * H + i) * W + j];
    }
  }
  return out.map((v) => v / (m * m));
}

/** Nearest upsampling by m of x [N, C, h, w]: each value fills an m x m block. */
export function upsampleNearest(x: Float32Array, dims: readonly number[], m: number): Float32Array {
  const [n, c, h, w] = dims;
  const H = h * m;
  const W = w * m;
  const out = new Float32Array(n * c * H * W);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) out[(p * H + i) * W + j] = x[(p * h + Math.floor(i / m)) * w + Math.floor(j / m)];
    }
  }
  return out;
}

/** What the trained-size pass sees: y = P(x_t) / s [N, C, H/m, W/m] at times tau [N]. */
export function lowResolutionInput(x: Float32Array, dims: readonly number[], t: Float32Array, m: number) {
  const [n, c, H, W] = dims;
  const pooled = averagePool(x, dims, m);
  const per = pooled.length / n;
  const y = new Float32Array(pooled.length);
  const tau = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    const g = guidanceTime(t[b], m);
    tau[b] = g.tau;
    for (let k = 0; k < per; k++) y[b * per + k] = pooled[b * per + k] / g.s;
  }
  return { y, tau, dims: [n, c, H / m, W / m] };
}

/**
 * The pooled velocity P(v) that the trained-size velocity u = v_low(y, tau) implies at t: u / (m s) - (1 - 1/m) y,
 * with y = P(x_t) / s. (dP(x_t)/dt = d(s y)/dt = s' y + s u dtau/dt, s' = -(1 - 1/m), dtau/dt = 1 / (m s^2).)
 */
export function pooledVelocityTarget(u: Float32Array, y: Float32Array, t: Float32Array, m: number): Float32Array {
  const per = u.length / t.length;
  return u.map((uk, k) => {
    const { s } = guidanceTime(t[Math.floor(k / per)], m);
    return uk / (m * s) - (1 - 1 / m) * y[k];
  });
}

/**
 * The guided velocity: v [N, C, H, W] at x_t, u the trained-size velocity at lowResolutionInput(x_t); where
 * t >= 1 - eta, v + scale * U(target - P(v)), else v. The threshold is compared in float32, as the graph does.
 */
export function guidedVelocity(v: Float32Array, u: Float32Array, x: Float32Array, dims: readonly number[], t: Float32Array, o: GuidanceOptions & { factor: number }): Float32Array {
  const m = o.factor;
  const { y, dims: low } = lowResolutionInput(x, dims, t, m);
  const target = pooledVelocityTarget(u, y, t, m);
  const pooledV = averagePool(v, dims, m);
  const correction = upsampleNearest(target.map((g, k) => o.scale * (g - pooledV[k])), low, m);
  const per = v.length / t.length;
  const threshold = Math.fround(1 - o.eta);
  return v.map((vk, k) => (Math.fround(t[Math.floor(k / per)]) >= threshold ? vk + correction[k] : vk));
}

// ---- the formula as graph nodes ----

const sameValues = (a: Float32Array, b: Float32Array | undefined) => a === b || (b !== undefined && a.length === b.length && a.every((v, i) => v === b[i]));

/**
 * One graph, two sizes of the same network: a weight of the trained-size pass that differs from the large pass's
 * (LiquidFlow's position table) becomes its own initializer, `<prefix>.<name>`; the rest are shared. Values the
 * model labels get the prefix too, so the two passes never collide.
 */
class TwoSizeOps extends OnnxOps {
  private inLowPass = false;

  constructor(
    private readonly large: Weights,
    private readonly low: Weights,
    private readonly prefix: string,
  ) {
    const own = Object.entries(low).filter(([name, data]) => !sameValues(data, large[name]));
    super({ weights: { ...large, ...Object.fromEntries(own.map(([name, data]) => [`${prefix}.${name}`, data])) } });
  }

  /** Runs fn as the trained-size pass: its weights, and `prefix` on its labels and own initializers (the caller scopes node names). */
  lowResolution<R>(fn: () => R): R {
    this.inLowPass = true;
    try {
      return fn();
    } finally {
      this.inLowPass = false;
    }
  }

  override param(name: string, shape: number[], init: Parameters<OnnxOps['param']>[2]): SymValue {
    const own = this.inLowPass && !sameValues(this.low[name] ?? new Float32Array(0), this.large[name]);
    return super.param(own ? `${this.prefix}.${name}` : name, shape, init);
  }

  override label(x: SymValue, name: string): SymValue {
    return super.label(x, this.inLowPass ? `${this.prefix}.${name}` : name);
  }
}

export interface SizedWeights {
  config: ModelConfig;
  weights: Weights;
}

/** Node and initializer prefix of the trained-size pass. */
export const GUIDANCE_SCOPE = 'upsample_guidance';

/**
 * The guided model: inputs and output as any export at `large`'s size. Both passes always run (no If: WebGPU and
 * WASM run the graph as one), and Where picks per sample by t.
 */
export function buildGuidedGraph(trained: SizedWeights, large: SizedWeights, o: GuidanceOptions): BuiltGraph & { guidance: UpsampleGuidance } {
  checkGuidanceOptions(o);
  const m = guidanceFactor(trained.config.img_size, large.config.img_size);
  const ops = new TwoSizeOps(large.weights, trained.weights, GUIDANCE_SCOPE);
  const { x, t } = graphInputs(ops, large.config);
  const v = modelForward(ops, large.config, x, t);
  const C = large.config.in_channels;
  const h = trained.config.img_size;
  const H = large.config.img_size;
  const vGuided = ops.scope(GUIDANCE_SCOPE, () => {
    // [N, C, H, W] viewed as [N, C, h, m, w, m]: pooling is two ReduceMeans, upsampling is a broadcast Add.
    const blocks = (a: SymValue) => ops.reshape(a, [-1, C, h, m, h, m]);
    const pool = (a: SymValue) => ops.reshape(ops.reduceMean(ops.reduceMean(blocks(a), 5), 3), [-1, C, h, h]);
    const s = ops.add(ops.mul(t, -(1 - 1 / m)), 1); // [N], 1 - t + t/m, >= 1/m
    const tau = ops.div(t, ops.mul(s, m));
    const s4 = ops.reshape(s, [-1, 1, 1, 1]);
    const pooledX = pool(x);
    const y = ops.div(pooledX, s4);
    const u = ops.lowResolution(() => modelForward(ops, trained.config, y, tau));
    // target = u / (m s) - (1 - 1/m) y = (u / m - (1 - 1/m) P(x_t)) / s
    const target = ops.div(ops.sub(ops.mul(u, 1 / m), ops.mul(pooledX, 1 - 1 / m)), s4);
    const correction = ops.mul(ops.sub(target, pool(v)), o.scale);
    return ops.reshape(ops.add(blocks(v), ops.reshape(correction, [-1, C, h, 1, h, 1])), [-1, C, H, H]);
  });
  const threshold = ops.constant(`${GUIDANCE_SCOPE}.one_minus_eta`, [], () => Float32Array.of(1 - o.eta));
  const plain = ops.node('Less', [ops.reshape(t, [-1, 1, 1, 1]), threshold], [-1, 1, 1, 1]); // bool: t < 1 - eta
  const out = ops.node('Where', [plain, v, vGuided], [...v.shape]);
  return { ...finishGraph(ops, large.config, x, t, out), guidance: { eta: o.eta, scale: o.scale, trainedImgSize: h, factor: m } };
}
