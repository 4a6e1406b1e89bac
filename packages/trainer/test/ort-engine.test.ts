// The onnxruntime training engine against the TF.js one, which is its oracle:
//  - gradients of the whole step graph vs tf.variableGrads for every variant's structure (scaled down), tiny at
//    32 px at full width, and LiquidFlow's DiM options, of both families: each parameter within 1e-4 of its largest gradient, the loss terms within
//    1e-5 relative;
//  - whole steps (clipping, AdamW from resumed moments, EMA): weights, moments and EMA within 1e-5;
//  - a NaN loss leaves the state untouched; a batch of another shape is refused; the graph is opset 17 on the
//    WebGPU/WASM allowlist and passes the ONNX checker;
//  - a run switches engines on resume and continues as if it had not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import {
  LIQUIDDIFFUSION_VARIANT_NAMES, LIQUIDFLOW_VARIANT_NAMES, type LiquidFlowConfig, type ModelConfig, TRAINING_OPS, type Weights, buildTrainingStep, flatten, initialNoise, resolveConfig,
  unflatten,
} from '@liquidflow/core';
import { type Checkpoint, freshCheckpoint, loadCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import { encodeModel } from '@liquidflow/exporter';
import {
  NonFiniteLossError, OrtEngine, type StepInput, TfjsEngine, describeEngineChoice, flowMatchingLoss, selectEngine, train,
} from '@liquidflow/trainer';
import { maxAbsDiff, smallRun, writeFashionMnistFixture } from './helpers';

// As OrtEngine sets it: the CUDA probe of device 'auto' would print a native error line (ORT's logger starts with the
// first session, so this must come before any).
ort.env.logLevel = 'fatal';

const absMax = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 };

/** Checkpoint weights moved off their init, so zero-initialised parameters (gates, biases) pass gradient too. */
function liveWeights(cfg: ModelConfig, seed: number): Weights {
  const w = freshCheckpoint(cfg, seed).weights;
  for (const [k, v] of Object.entries(w)) for (let i = 0; i < v.length; i++) v[i] += 0.02 * Math.sin(i * 1.7 + k.length);
  return w;
}

function batchOf(cfg: ModelConfig, b: number, seed: number) {
  const n = b * cfg.in_channels * cfg.img_size * cfg.img_size;
  return {
    x0: initialNoise(seed, n).map(Math.tanh),
    noise: initialNoise(seed + 1000, n),
    t: Float32Array.from({ length: b }, (_, i) => (i + 0.37) / b),
  };
}

async function gradientParity(cfg: ModelConfig, b: number) {
  const weights = liveWeights(cfg, 1);
  const { x0, noise, t } = batchOf(cfg, b, 5);
  const physics = { smooth: 0.1, tv: 0.1 };
  const built = buildTrainingStep(cfg, b, ADAM, { gradients: true });
  const session = await ort.InferenceSession.create(encodeModel(built.graph, {}));
  const P = built.layout.size;
  const flat = flatten(built.layout, weights);
  const image = [b, cfg.in_channels, cfg.img_size, cfg.img_size];
  const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);
  const out = await session.run({
    weights: new ort.Tensor('float32', flat, [P]), adam_m: new ort.Tensor('float32', new Float32Array(P), [P]),
    adam_v: new ort.Tensor('float32', new Float32Array(P), [P]), ema: new ort.Tensor('float32', flat.slice(), [P]),
    x0: new ort.Tensor('float32', x0, image), noise: new ort.Tensor('float32', noise, image), t: new ort.Tensor('float32', t, [b]),
    lr: scalar(1e-3), bias_correction1: scalar(0.1), bias_correction2: scalar(0.001), ema_decay: scalar(0.9),
    lambda_smooth: scalar(physics.smooth), lambda_tv: scalar(physics.tv),
  });
  await session.release();
  const ortGrads = unflatten(built.layout, out.grad.data as Float32Array);

  const model = new TfModel(cfg, weights);
  const vars = [...model.variables.values()];
  const names = [...model.variables.keys()];
  let tfTerms: number[] = [];
  const tfGrads = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => {
      const l = flowMatchingLoss(model, tf.tensor(x0, image), tf.tensor(noise, image), tf.tensor(t), physics);
      tfTerms = [l.total, l.flow, l.smooth, l.tv].map((v) => v.dataSync()[0]);
      return l.total;
    }, vars);
    return Object.fromEntries(names.map((n, i) => [n, grads[vars[i].name].dataSync() as Float32Array]));
  });
  model.dispose();
  const ortTerms = ['loss', 'flow', 'smooth', 'tv'].map((k) => (out[k].data as Float32Array)[0]);
  let worst = { rel: 0, name: '' };
  for (const name of names) {
    const scale = absMax(tfGrads[name]);
    const err = absMax(tfGrads[name].map((v, i) => v - ortGrads[name][i]));
    const rel = scale > 0 ? err / scale : err;
    if (rel > worst.rel) worst = { rel, name };
  }
  return { tfTerms, ortTerms, worst, nodes: built.graph.nodes.length };
}

describe('gradients: ORT step graph vs tf.variableGrads', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  const scaled = (name: string) => {
    const patch = resolveConfig(name).patch_size;
    return resolveConfig(name, { img_size: 4 * patch, dim: 32, head_dim: 16, time_freq_dim: 32 });
  };
  const cases: [string, LiquidFlowConfig, number][] = [
    ...LIQUIDFLOW_VARIANT_NAMES.map((n): [string, LiquidFlowConfig, number] => [`${n} structure, scaled down`, scaled(n), 2]),
    ['tiny at 32 px, full width', resolveConfig('tiny', { img_size: 32 }), 2],
    // DiM's options (seed 001), each on tiny's structure scaled down, and all three together.
    ...([
      ['pad_tokens 2', { pad_tokens: 2 }], ["smoothers 'tokens'", { smoothers: 'tokens' }], ["scan_schedule 'dim'", { scan_schedule: 'dim' }],
      ['all three DiM options', { pad_tokens: 2, smoothers: 'tokens', scan_schedule: 'dim' }],
    ] as [string, Partial<LiquidFlowConfig>][]).map(([label, o]): [string, LiquidFlowConfig, number] => [`DiM ${label}, tiny structure scaled down`, resolveConfig('tiny', { ...scaled('tiny'), ...o }), 2]),
    ['tiny structure with ssm channel, scaled down', resolveConfig('tiny', { img_size: 16, dim: 32, time_freq_dim: 32, ssm: 'channel' }), 2],
    ['tiny at 32 px, full width, ssm channel', resolveConfig('tiny', { img_size: 32, ssm: 'channel' }), 2],
  ];
  // LiquidDiffusion: each variant's stages and blocks at an eighth of its width, 16 px.
  const narrow = (name: string) => {
    const full = resolveConfig(name, { arch: 'liquiddiffusion' });
    return resolveConfig(name, { arch: 'liquiddiffusion', img_size: 16, channels: full.channels.map((c) => c / 8), norm_groups: 4, time_freq_dim: 32 });
  };
  const diffusionCases: [string, ModelConfig, number][] = [
    ...LIQUIDDIFFUSION_VARIANT_NAMES.map((n): [string, ModelConfig, number] => [`liquiddiffusion ${n} structure, an eighth as wide`, narrow(n), 2]),
    ['liquiddiffusion tiny at 16 px, full width', resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 16 }), 2],
  ];
  const describeCfg = (cfg: ModelConfig) => (cfg.arch === 'liquidflow' ? `depth ${cfg.depth}, patch ${cfg.patch_size}` : `channels [${cfg.channels}], blocks [${cfg.blocks}]`);
  for (const [label, cfg, b] of [...cases, ...diffusionCases]) {
    it(`${label} (${describeCfg(cfg)}, ${cfg.img_size} px, batch ${b})`, async () => {
      const r = await gradientParity(cfg, b);
      const termErr = Math.max(...r.tfTerms.map((v, i) => Math.abs(v - r.ortTerms[i]) / Math.abs(v)));
      console.log(`gradient parity, ${label}: worst ${r.worst.rel.toExponential(2)} of the tensor's largest (${r.worst.name}); loss terms ${termErr.toExponential(2)} relative`);
      r.tfTerms.forEach((v, i) => expect(Math.abs(v - r.ortTerms[i]) / Math.abs(v), `loss term ${i}`).toBeLessThan(1e-5));
      expect(r.worst.rel, `worst parameter: ${r.worst.name}`).toBeLessThan(1e-4);
    }, 120_000);
  }
});

describe('whole steps: the ORT engine vs the TF.js engine', () => {
  const cfg = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 4, head_dim: 16, time_freq_dim: 32 });
  const B = 2;
  const step = (s: number): StepInput => ({ ...batchOf(cfg, B, s), lr: 1e-3, physics: { smooth: 0.01, tv: 0.01 }, emaDecay: 0.9 });

  /** A run resumed at optimizer step 10 with live moments, clipping at 0.05 so every step clips. */
  function resumedStart() {
    const weights = freshCheckpoint(cfg, 1).weights;
    const m: Weights = {};
    const v: Weights = {};
    for (const [k, w] of Object.entries(weights)) {
      m[k] = w.map((_, i) => 1e-3 * Math.sin(i + k.length));
      v[k] = w.map((_, i) => 1e-6 * (1.5 + Math.cos(i * 0.3)));
    }
    const ema = Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, w.map((x) => x + 0.01)]));
    return { weights, ema, optimizer: { step: 10, m, v } };
  }

  it('three steps agree: loss terms, gradient norm, weights, EMA, AdamW moments and step', async () => {
    await tf.setBackend('cpu');
    const adam = { ...ADAM, clipNorm: 0.05 };
    const start = resumedStart();
    const a = new TfjsEngine(cfg, start, adam);
    const b = await OrtEngine.create(cfg, start, adam, { batch: B, device: 'cpu' });
    for (let s = 0; s < 3; s++) {
      const [pa, pb] = [await a.step(step(s)), await b.step(step(s))];
      expect(pa.gradNorm).toBeGreaterThan(adam.clipNorm); // clipping is exercised
      for (const k of ['total', 'flow', 'smooth', 'tv', 'gradNorm'] as const) expect(Math.abs(pa[k] - pb[k]) / Math.abs(pa[k]), k).toBeLessThan(1e-5);
    }
    const [sa, sb] = [await a.state(), await b.state()];
    expect(maxAbsDiff(sa.weights, start.weights)).toBeGreaterThan(5e-4); // the weights did move (lr 1e-3, 3 steps)
    expect(maxAbsDiff(sa.weights, sb.weights)).toBeLessThan(1e-5);
    expect(maxAbsDiff(sa.ema, sb.ema)).toBeLessThan(1e-5);
    expect(maxAbsDiff(sa.optimizer.m, sb.optimizer.m)).toBeLessThan(1e-5);
    expect(maxAbsDiff(sa.optimizer.v, sb.optimizer.v)).toBeLessThan(1e-5);
    expect([sa.optimizer.step, sb.optimizer.step]).toEqual([13, 13]);
    await a.dispose();
    await b.dispose();
  });

  it('a NaN loss throws NonFiniteLossError and leaves weights, moments and EMA as they were', async () => {
    const e = await OrtEngine.create(cfg, resumedStart(), ADAM, { batch: B, device: 'cpu' });
    await e.step(step(0));
    const before = await e.state();
    const bad = step(1);
    bad.x0[0] = NaN;
    await expect(e.step(bad)).rejects.toBeInstanceOf(NonFiniteLossError);
    const after = await e.state();
    expect(maxAbsDiff(after.weights, before.weights)).toBe(0);
    expect(maxAbsDiff(after.ema, before.ema)).toBe(0);
    expect(maxAbsDiff(after.optimizer.m, before.optimizer.m)).toBe(0);
    expect(after.optimizer.step).toBe(before.optimizer.step);
    await e.step(step(2)); // and it carries on
    await e.dispose();
  });

  it('refuses a batch of another size or image size, naming what the graph was built for', async () => {
    const e = await OrtEngine.create(cfg, resumedStart(), ADAM, { batch: B, device: 'cpu' });
    const three = { ...batchOf(cfg, 3, 0), lr: 1e-3, physics: { smooth: 0, tv: 0 }, emaDecay: 0.9 };
    await expect(e.step(three)).rejects.toThrow(/built for batch 2 of 3x16x16 images; got 3 times/);
    const bigger = { ...batchOf(resolveConfig('tiny', { ...cfg, img_size: 32 }), B, 0), lr: 1e-3, physics: { smooth: 0, tv: 0 }, emaDecay: 0.9 };
    await expect(e.step(bigger)).rejects.toThrow(/--batch_size or --img_size/);
    await e.dispose();
  });

  it('the step graph: opset-17 ops on the training allowlist, no control flow, passes the ONNX checker', async () => {
    const built = buildTrainingStep(cfg, B, ADAM);
    const types = new Set(built.graph.nodes.map((n) => n.opType));
    for (const t of types) expect(TRAINING_OPS.has(t), t).toBe(true);
    for (const t of ['Loop', 'Scan', 'If']) expect(types.has(t)).toBe(false);
    const dir = await mkdtemp(join(tmpdir(), 'lf-step-'));
    const path = join(dir, 'step.onnx');
    await writeFile(path, encodeModel(built.graph, {}));
    const script = 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print("ok", m.opset_import[0].version)';
    expect(execFileSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' }).trim()).toBe('ok 17');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('engine choice and switching engines mid-run', () => {
  let root: string;
  let data: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lf-engines-'));
    data = await writeFashionMnistFixture(join(root, 'data'), 64);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("auto picks 'ort' here and says why the faster tensorflow-gpu was skipped", async () => {
    const choice = await selectEngine('auto');
    expect(choice).toEqual({ name: 'ort', skipped: [{ name: 'tensorflow-gpu', reason: 'package not installed' }] });
    expect(describeEngineChoice(choice)).toMatch(/^training engine: ort: .*\(tensorflow-gpu: package not installed\)$/);
    await expect(selectEngine('bogus' as never)).rejects.toThrow(/unknown backend 'bogus': expected auto or one of tensorflow-gpu, ort, tensorflow, wasm, cpu/);
  });

  const quiet = () => {};
  it("with DiM's three options, 3 ort steps train as 3 wasm (TF.js) steps do, padding tokens included", async () => {
    const dim = { pad_tokens: 2, smoothers: 'tokens', scan_schedule: 'dim', steps: 3 };
    const runs: Checkpoint[] = [];
    for (const backend of ['ort', 'wasm'] as const) {
      const out = join(root, `dim-${backend}`);
      const r = await train(smallRun(out, data, { ...dim, backend }), new Set(['steps', 'pad_tokens', 'smoothers', 'scan_schedule']), quiet);
      expect(Number.isFinite(r.lastLoss)).toBe(true);
      runs.push(await loadCheckpoint(out));
    }
    const [a, b] = runs;
    expect((a.config as LiquidFlowConfig).scan_schedule).toBe('dim');
    const init = freshCheckpoint(a.config, a.seed).weights.pad_tokens;
    expect(maxAbsDiff({ p: a.weights.pad_tokens }, { p: init }), 'the padding tokens train').toBeGreaterThan(1e-4);
    expect(maxAbsDiff(a.weights, b.weights)).toBeLessThan(1e-5);
  }, 120_000);

  for (const [first, second] of [['wasm', 'ort'], ['ort', 'wasm']] as const) {
    it(`${first} for 3 steps, then --resume --backend ${second} to 6: continues as one ${first} run would`, async () => {
      const whole = join(root, `whole-${first}`);
      const split = join(root, `split-${first}-${second}`);
      await train(smallRun(whole, data, { steps: 6, backend: first }), new Set(['steps']), quiet);
      await train(smallRun(split, data, { steps: 3, backend: first }), new Set(['steps']), quiet);
      const r = await train({ ...smallRun(split, data, { backend: second }), resume: split, steps: 6 }, new Set(['resume', 'steps', 'backend']), quiet);
      expect(r.step).toBe(6);
      const [a, b]: Checkpoint[] = [await loadCheckpoint(whole), await loadCheckpoint(split)];
      expect(b.optimizer?.step).toBe(6);
      // Only float rounding differs between the engines.
      expect(maxAbsDiff(a.weights, b.weights)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a.ema, b.ema)).toBeLessThan(1e-5);
      expect(maxAbsDiff(a.optimizer!.m, b.optimizer!.m)).toBeLessThan(1e-5);
    }, 120_000);
  }
});
