// Upsample guidance (upsample-guidance.ts, derivation in the README): (1) the formula on a toy distribution whose exact
// velocities are known, (2) the exported graph against the formula applied to two plain exports, for both families,
// and (3) the command line's errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ModelConfig, PORTABLE_OPS, Rng, readLiquidFlowInfo, resolveConfig } from '@liquidflow/core';
import { saveCheckpoint, type Checkpoint } from '@liquidflow/checkpoint';
import {
  GUIDANCE_DEFAULTS, averagePool, decodeModel, exportBytes, guidanceTime, guidedVelocity, lowResolutionInput, pooledVelocityTarget,
  runOrt, upsampleNearest, VERIFY_TOLERANCE,
} from '@liquidflow/exporter';
import { perturbedWeights } from './weights-fixture.js';

// ---- (1) the derivation on a toy distribution ----
// Data with no detail finer than the pooling block: x0 = U(z), z [C, h, h] from a Gaussian mixture with isotropic
// components. Then E[v | x_t] is analytic at both sizes: a sample a z + b n (n standard normal) has the posterior
// mean of z in closed form, and at the high resolution P(x_t) = (1 - t) z + (t/m) n' carries everything x_t says
// about z (the rest of the noise, inside the blocks, is independent of z).
const C = 2;
const h = 3;
const m = 2;
const D = C * h * h;
const rng = new Rng(11, 1);
const MIXTURE = [
  { weight: 0.3, std: 0.2, mean: Float64Array.from({ length: D }, () => 0.8 * rng.normal()) },
  { weight: 0.7, std: 0.5, mean: Float64Array.from({ length: D }, () => 0.8 * rng.normal()) },
];

/** E[z | a z + b n = y] for one sample y [D] of the mixture. */
function posteriorMean(y: ArrayLike<number>, a: number, b: number): Float64Array {
  const parts = MIXTURE.map((k) => {
    const variance = a * a * k.std * k.std + b * b;
    let sq = 0;
    for (let i = 0; i < D; i++) sq += (y[i] - a * k.mean[i]) ** 2;
    const logw = Math.log(k.weight) - 0.5 * D * Math.log(variance) - sq / (2 * variance);
    const mean = k.mean.map((mu, i) => mu + ((a * k.std * k.std) / variance) * (y[i] - a * mu));
    return { logw, mean };
  });
  const top = Math.max(...parts.map((p) => p.logw));
  const w = parts.map((p) => Math.exp(p.logw - top));
  const total = w.reduce((s, x) => s + x, 0);
  const out = new Float64Array(D);
  parts.forEach((p, k) => p.mean.forEach((v, i) => (out[i] += (w[k] / total) * v)));
  return out;
}

/** The exact trained-size velocity E[n - z | y] at tau, per sample of y [N, C, h, h]: (y - E[z | y]) / tau. */
function lowVelocity(y: Float32Array, tau: Float32Array): Float32Array {
  const u = new Float32Array(y.length);
  for (let b = 0; b < tau.length; b++) {
    const yb = y.subarray(b * D, (b + 1) * D);
    const z = posteriorMean(yb, 1 - tau[b], tau[b]);
    for (let i = 0; i < D; i++) u[b * D + i] = (yb[i] - z[i]) / tau[b];
  }
  return u;
}

/** The exact high-resolution velocity E[noise - x0 | x_t] = (x_t - U(E[z | P(x_t)])) / t, x [N, C, mh, mh]. */
function highVelocity(x: Float32Array, dims: number[], t: Float32Array): Float32Array {
  const pooled = averagePool(x, dims, m);
  const z = new Float32Array(pooled.length);
  for (let b = 0; b < t.length; b++) z.set(posteriorMean(pooled.subarray(b * D, (b + 1) * D), 1 - t[b], t[b] / m), b * D);
  const x0 = upsampleNearest(z, [t.length, C, h, h], m);
  const per = x.length / t.length;
  return x.map((xk, k) => (xk - x0[k]) / t[Math.floor(k / per)]);
}

/** x_t = (1 - t) U(z) + t noise for a batch with times t. */
function toyBatch(t: number[], seed: number) {
  const r = new Rng(seed, 2);
  const dims = [t.length, C, h * m, h * m];
  const z = new Float32Array(t.length * D);
  for (let b = 0; b < t.length; b++) {
    const k = r.uniform() < MIXTURE[0].weight ? MIXTURE[0] : MIXTURE[1];
    for (let i = 0; i < D; i++) z[b * D + i] = k.mean[i] + k.std * r.normal();
  }
  const x0 = upsampleNearest(z, [t.length, C, h, h], m);
  const per = x0.length / t.length;
  const x = x0.map((v, k) => (1 - t[Math.floor(k / per)]) * v + t[Math.floor(k / per)] * r.normal());
  return { x, dims, t: Float32Array.from(t) };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => Math.max(s, Math.abs(v)), 0);
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Float32Array.from(a, (v, i) => v - b[i]);

describe('upsample guidance formula (exact velocities of a toy distribution)', () => {
  const times = [0.05, 0.3, 0.5, 0.7, 0.85, 0.95, 1];

  it('s and tau: P(x_t) / s has the trained-size noise level of time tau', () => {
    for (const t of times) {
      const { s, tau } = guidanceTime(t, m);
      // Signal (1 - t) and noise std t/m, divided by s, are 1 - tau and tau.
      expect((1 - t) / s).toBeCloseTo(1 - tau, 12);
      expect(t / m / s).toBeCloseTo(tau, 12);
    }
    expect(guidanceTime(1, 4)).toEqual({ s: 0.25, tau: 1 });
    expect(guidanceTime(0, 4)).toEqual({ s: 1, tau: 0 });
  });

  it("the trained-size velocity's target is the pooled exact high-resolution velocity", () => {
    for (let seed = 0; seed < 3; seed++) {
      const { x, dims, t } = toyBatch(times, seed);
      const low = lowResolutionInput(x, dims, t, m);
      const target = pooledVelocityTarget(lowVelocity(low.y, low.tau), low.y, t, m);
      const exact = averagePool(highVelocity(x, dims, t), dims, m);
      expect(maxAbs(exact)).toBeGreaterThan(1);
      expect(maxAbs(diff(target, exact)), `seed ${seed}`).toBeLessThan(2e-5 * maxAbs(exact));
    }
  });

  it('the naive reading (the pooled image as a trained-size sample at the same t) misses it: the test can fail', () => {
    const { x, dims, t } = toyBatch(times, 0);
    const pooled = averagePool(x, dims, m);
    const naive = lowVelocity(pooled, t); // no 1/s, tau = t, and no velocity rescaling
    const exact = averagePool(highVelocity(x, dims, t), dims, m);
    expect(maxAbs(diff(naive, exact))).toBeGreaterThan(0.1 * maxAbs(exact));
  });

  it('leaves the exact velocity unchanged and replaces the low frequencies of a wrong one (scale 1), only where t >= 1 - eta', () => {
    const { x, dims, t } = toyBatch(times, 5);
    const exact = highVelocity(x, dims, t);
    const low = lowResolutionInput(x, dims, t, m);
    const u = lowVelocity(low.y, low.tau);
    const o = { ...GUIDANCE_DEFAULTS, factor: m };
    expect(maxAbs(diff(guidedVelocity(exact, u, x, dims, t, o), exact))).toBeLessThan(2e-5 * maxAbs(exact));

    // A wrong velocity: the exact one plus a low-frequency error and block-internal detail.
    const r = new Rng(3, 3);
    const error = upsampleNearest(Float32Array.from({ length: t.length * D }, () => r.normal()), [t.length, C, h, h], m);
    const detail = Float32Array.from(exact, () => r.normal());
    const detailOnly = diff(detail, upsampleNearest(averagePool(detail, dims, m), [t.length, C, h, h], m));
    const wrong = exact.map((v, k) => v + error[k] + detailOnly[k]);
    const guided = guidedVelocity(wrong, u, x, dims, t, o);
    const per = exact.length / t.length;
    for (let b = 0; b < t.length; b++) {
      const at = (a: Float32Array) => a.subarray(b * per, (b + 1) * per);
      if (t[b] >= Math.fround(1 - o.eta)) {
        // The error is gone, the detail kept: guided = exact + detail.
        expect(maxAbs(diff(at(guided), at(exact).map((v, k) => v + at(detailOnly)[k]))), `t=${t[b]}`).toBeLessThan(1e-4);
      } else expect(at(guided), `t=${t[b]}`).toEqual(at(wrong));
    }
    // Scale w moves P(v) a fraction w of the way.
    const half = guidedVelocity(wrong, u, x, dims, t, { ...o, scale: 0.5 });
    const last = (a: Float32Array) => a.subarray((t.length - 1) * per);
    expect(maxAbs(diff(last(half), last(wrong).map((v, k) => v - 0.5 * last(error)[k])))).toBeLessThan(1e-4);
  });
});

// ---- (2) the graph against two plain exports ----
const narrowDiffusion = (img_size: number) => {
  const full = resolveConfig('tiny', { arch: 'liquiddiffusion' });
  return resolveConfig('tiny', { arch: 'liquiddiffusion', img_size, channels: full.channels.map((c) => c / 8), norm_groups: 4, time_freq_dim: 32 });
};
const FAMILIES: { label: string; config: ModelConfig; large: number; eta: number; scale: number; ownWeights: string[] }[] = [
  { label: 'liquidflow', config: resolveConfig('tiny', { img_size: 16, dim: 32, depth: 4, head_dim: 16, time_freq_dim: 32 }), large: 32, eta: 0.3, scale: 1, ownWeights: ['upsample_guidance.pos_embed'] },
  // Its weights do not depend on the size, so the two passes share every initializer.
  { label: 'liquiddiffusion', config: narrowDiffusion(16), large: 32, eta: 0.5, scale: 0.5, ownWeights: [] },
];
const checkpointOf = (config: ModelConfig): Checkpoint => {
  const weights = perturbedWeights(config, 4);
  return { config, step: 9, seed: 0, weights, ema: weights };
};

describe.each(FAMILIES)('--upsample_guidance graph, $label', ({ config, large, eta, scale, ownWeights }) => {
  const ckpt = checkpointOf(config);
  const guided = exportBytes(ckpt, 'ema', large, { eta, scale });
  const plainLarge = exportBytes(ckpt, 'ema', large);
  const plainTrained = exportBytes(ckpt);

  it('equals the formula applied to the trained-size and the resized plain exports, on both sides of 1 - eta', async () => {
    const t = Float32Array.from([0, 0.2, 1 - eta - 0.01, 1 - eta + 0.01, 0.9, 1]);
    const dims = [t.length, config.in_channels, large, large];
    const x = new Rng(5, 6).fillNormal(new Float32Array(dims.reduce((a, b) => a * b)));
    const v = await runOrt(plainLarge.bytes, x, t, dims);
    const low = lowResolutionInput(x, dims, t, large / config.img_size);
    const u = await runOrt(plainTrained.bytes, low.y, low.tau, low.dims);
    const expected = guidedVelocity(v, u, x, dims, t, { eta, scale, factor: large / config.img_size });
    const got = await runOrt(guided.bytes, x, t, dims);
    expect(maxAbs(diff(got, expected))).toBeLessThanOrEqual(VERIFY_TOLERANCE);
    const per = x.length / t.length;
    for (let b = 0; b < t.length; b++) {
      const change = maxAbs(diff(got.subarray(b * per, (b + 1) * per), v.subarray(b * per, (b + 1) * per)));
      if (t[b] < 1 - eta) expect(change, `t=${t[b]}: unguided`).toBeLessThanOrEqual(VERIFY_TOLERANCE);
      else expect(change, `t=${t[b]}: guided`).toBeGreaterThan(0.01);
    }
  });

  it('keeps the contract (x, t -> v at the large size), records the guidance, and uses portable ops only', () => {
    const info = readLiquidFlowInfo(guided.bytes, 'guided.onnx');
    expect(info.formatVersion).toBe(2);
    expect(info.inputs).toEqual(['x', 't']);
    expect(info.outputs).toEqual(['v']);
    expect(info.config.img_size).toBe(large);
    expect(info.trainedImgSize).toBe(config.img_size);
    expect(info.upsampleGuidance).toEqual({ eta, scale, trainedImgSize: config.img_size, factor: large / config.img_size });
    expect(readLiquidFlowInfo(plainLarge.bytes).upsampleGuidance).toBeUndefined();
    const ops = new Set(decodeModel(guided.bytes).opTypes);
    for (const op of ops) expect(PORTABLE_OPS.has(op), op).toBe(true);
    expect(ops.has('Where')).toBe(true);
    for (const op of ['If', 'Loop', 'Scan']) expect(ops.has(op)).toBe(false);
  });

  it('stores each weight once: only those the resize changed are added for the trained-size pass', () => {
    const names = (g: typeof guided) => new Set(g.graph.initializers.filter((i) => i.dtype === 'float32' && !i.name.startsWith('const.')).map((i) => i.name));
    const extra = [...names(guided)].filter((n) => !names(plainLarge).has(n) && !n.startsWith('ssm.') && !n.startsWith('t_embed.') && !n.endsWith('one_minus_eta'));
    expect(extra.sort()).toEqual(ownWeights);
    const size = (n: string) => ckpt.ema[n.replace('upsample_guidance.', '')].length;
    expect(guided.params).toBe(plainLarge.params + ownWeights.reduce((s, n) => s + size(n), 0));
  });

  it('passes onnx.checker.check_model(full_check=True) of python3-onnx', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'lf-guided-')), 'guided.onnx');
    writeFileSync(path, guided.bytes);
    const script = 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print("ok")';
    expect(execFileSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' }).trim()).toBe('ok');
  });
});

// ---- (3) the command line ----
describe('liquidflow-export --upsample_guidance', () => {
  const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
  const exportCli = join(root, 'packages/exporter/dist/cli.js');
  const run = (args: string[]) => spawnSync(process.execPath, [exportCli, ...args], { encoding: 'utf8', cwd: root });
  const dir = mkdtempSync(join(tmpdir(), 'lf-guidance-cli-'));
  const ckptDir = join(dir, 'ckpt');
  const out = join(dir, 'out.onnx');
  beforeAll(() => saveCheckpoint(ckptDir, checkpointOf(FAMILIES[0].config)));

  it('exports at 2x with guidance, and --verify (TF.js at both sizes plus the formula) passes', async () => {
    const r = run([ckptDir, out, '--img_size', '32', '--upsample-guidance', '--verify', '--batch', '5']);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/liquidflow tiny, 32px \(trained at 16px, weights resized\), upsample guidance \(16px pass, eta 0\.3, scale 1\), step 9/);
    const err = /max_abs_err=([0-9.e+-]+)/.exec(r.stdout);
    expect(Number(err![1])).toBeLessThanOrEqual(VERIFY_TOLERANCE);
    expect(readLiquidFlowInfo(new Uint8Array(readFileSync(out))).upsampleGuidance?.eta).toBe(0.3);
  });

  it.each([
    [['--upsample_guidance'], /--upsample_guidance needs --img_size, a multiple \(2x or more\) of the trained size/],
    [['--img_size', '16', '--upsample_guidance'], /needs --img_size a multiple \(2x or more\) of the trained size 16, .*; got 16 \(try 32\)/],
    [['--img_size', '24', '--upsample_guidance'], /needs --img_size a multiple \(2x or more\) of the trained size 16, .*; got 24 \(try 32\)/],
    [['--img_size', '32', '--upsample_guidance', '--guidance_eta', '0'], /--guidance_eta must be in \(0, 1\] \(guidance acts where t >= 1 - eta\), got 0$/m],
    [['--img_size', '32', '--upsample_guidance', '--guidance_eta', '1.5'], /--guidance_eta must be in \(0, 1\].*got 1\.5$/m],
    [['--img_size', '32', '--upsample_guidance', '--guidance_eta', 'most'], /--guidance_eta must be a number, got 'most'/],
    [['--img_size', '32', '--upsample_guidance', '--guidance_scale', '-1'], /--guidance_scale must be a positive number, got -1$/m],
    [['--img_size', '32', '--guidance_eta', '0.5'], /--guidance_eta and --guidance_scale need --upsample_guidance/],
  ])('refuses %j clearly and writes nothing', (args, message) => {
    const bad = join(dir, 'bad.onnx');
    const r = run([ckptDir, bad, ...args]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^liquidflow-export: /m);
    expect(r.stderr).toMatch(message);
    expect(existsSync(bad)).toBe(false);
  });
});
