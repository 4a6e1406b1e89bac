// The training loop, in the spirit of nanoGPT's train.py: options (defaults < checkpoint < flags), scratch, resume or
// weak-to-strong init, then one loop that logs every log_every steps, draws a sample grid and the loss curve every
// sample_every steps, and atomically saves one checkpoint (weights, EMA, optimizer, config, step, seed, options)
// every save_every steps and at the end.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import {
  type ArchName, ConfigError, DEFAULT_ARCH, type ModelConfig, NonFiniteOutputError, ProgressBar, countParams, familyOf, formatSeconds,
  getFamily, resolveConfig, validateConfig, weightsForImageSize,
} from '@liquidflow/core';
import { type Checkpoint, CheckpointError, NonFiniteWeightsError, freshCheckpoint, loadCheckpoint, saveCheckpoint, writeFileAtomic } from '@liquidflow/checkpoint';
import type { NodeDevice } from '@liquidflow/runtime-node';
import { type EngineName, type TrainEngine, describeEngineChoice, selectEngine } from './engine.js';
import { OrtEngine } from './ort-engine.js';
import { TfjsEngine } from './tfjs-engine.js';
import { installWasmKernels } from './wasm-kernels.js';
import { checkRunDir } from './run-dir.js';
import { CheckpointGuard, ExplodedWeightsError } from './checkpoint-health.js';
import { checkTrainOptions } from './train-options.js';
import type { AdamWOptions } from './adamw.js';
import { NonFiniteLossError, type LossParts } from './flow-loss.js';
import { emaDecayAt } from './ema.js';
import { learningRate, physicsWarmup } from './lr-schedule.js';
import { openBatchSource, withSharedPixels } from './batch-prefetch.js';
import { loadDataset } from './datasets/index.js';
import { sampleGridPng } from './sample-grid.js';
import { lossCurvePng, type CurveSeries } from './loss-curve.js';
import { LABELED_DATASETS, isLabeledDataset } from './quality/labeled-sets.js';
import { QualityEvaluator, generateForQuality } from './quality/sample-quality.js';

export interface TrainOptions {
  /** The model family (registry.ts in core) of a new run; a resume or init_from takes the checkpoint's. */
  arch: string;
  model_size: string;
  img_size?: number;
  /** LiquidFlow architecture overrides of a new run (ARCH_OVERRIDES); a resume or init_from keeps the checkpoint's. */
  pad_tokens?: number;
  smoothers?: string;
  scan_schedule?: string;
  ssm?: string;
  dataset: string;
  data_dir?: string;
  epochs: number;
  batch_size: number;
  /** Total optimizer steps of the run (overrides epochs). */
  steps?: number;
  lr: number;
  warmup_steps: number;
  /** Linear learning-rate decay to 0 over the last this many of the run's steps (0: constant to the end). */
  lr_decay_steps: number;
  weight_decay: number;
  grad_clip: number;
  ema_decay: number;
  lambda_smooth: number;
  lambda_tv: number;
  physics_warmup: number;
  flip: boolean;
  seed: number;
  out: string;
  resume?: string;
  init_from?: string;
  /** Training engine: auto, ort (onnxruntime), or a TensorFlow.js backend (engine.ts). */
  backend: EngineName | 'auto';
  /** ort engine: where the step graph runs, with runtime-node's device names (auto: CUDA if its provider loads). */
  device: NodeDevice;
  log_every: number;
  sample_every: number;
  save_every: number;
  sample_count: number;
  sample_steps: number;
  /** Steps between sample-quality evaluations of the EMA weights (FD, precision, recall; 0 = off). */
  eval_every: number;
  /** Images per evaluation (generated with sample_steps Euler steps, and as many reference and held-out images). */
  eval_count: number;
  /** The feature network of the evaluations (default: the one shipped for the dataset). */
  eval_features?: string;
  /** Steps ahead whose batches a worker thread builds while a step trains (0: each batch on the main thread). */
  prefetch: number;
  /**
   * Threads: ort's intra-op threads (default one per core), or wasm's matmul threads (default 1: see gemm.ts's
   * RECHECK_MS). 0: one per core.
   */
  threads?: number;
  /** Start a new run in a non-empty --out (run-dir.ts refuses that otherwise). */
  force?: boolean;
}

export const TRAIN_DEFAULTS: TrainOptions = {
  arch: DEFAULT_ARCH,
  model_size: 'tiny',
  dataset: 'fashion-mnist',
  epochs: 50,
  batch_size: 64,
  lr: 2e-4,
  warmup_steps: 200,
  lr_decay_steps: 0,
  weight_decay: 0.01,
  grad_clip: 1,
  ema_decay: 0.9995,
  lambda_smooth: 1e-3,
  lambda_tv: 1e-3,
  physics_warmup: 500,
  flip: true,
  seed: 0,
  out: 'runs/liquidflow',
  backend: 'auto',
  device: 'auto',
  log_every: 10,
  sample_every: 500,
  save_every: 500,
  sample_count: 16,
  sample_steps: 25,
  eval_every: 0,
  eval_count: 500,
  prefetch: 2,
};

/** Flags that set a config field of a new run's model; a resume or init_from refuses one that disagrees. */
export const ARCH_OVERRIDES = ['pad_tokens', 'smoothers', 'scan_schedule', 'ssm'] as const;

/** Options a resume takes from the checkpoint unless the command line sets them. */
const RUN_FIELDS: (keyof TrainOptions)[] = [
  'dataset', 'data_dir', 'epochs', 'batch_size', 'lr', 'warmup_steps', 'lr_decay_steps', 'weight_decay', 'grad_clip', 'ema_decay',
  'lambda_smooth', 'lambda_tv', 'physics_warmup', 'flip', 'seed', 'log_every', 'sample_every', 'save_every',
  'sample_count', 'sample_steps', 'eval_every', 'eval_count', 'eval_features', 'steps',
];

export interface TrainResult {
  dir: string;
  step: number;
  lastLoss: number;
  seconds: number;
  /** The run was stopped by the signal before --steps (its step is checkpointed). */
  stopped: boolean;
}

/** A sample-quality row of metrics.jsonl (kind 'eval'), beside the loss rows. */
interface EvalRow {
  kind: 'eval';
  step: number;
  fd: number;
  precision: number;
  recall: number;
  count: number;
  sampler: 'euler';
  sampling_steps: number;
  /** The same figures for held-out real images: the floor. */
  real_fd: number;
  real_precision: number;
  real_recall: number;
  seconds: number;
  time: string;
}

interface MetricRow {
  step: number;
  epoch: number;
  loss: number;
  flow: number;
  smooth: number;
  tv: number;
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  steps_per_s: number;
  data_ms: number;
  time: string;
}

async function readMetrics(path: string, upTo: number): Promise<{ losses: MetricRow[]; evals: EvalRow[] }> {
  const out = { losses: [] as MetricRow[], evals: [] as EvalRow[] };
  if (!existsSync(path)) return out;
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRow | EvalRow;
      if (r.step <= upTo) ('kind' in r && r.kind === 'eval' ? out.evals.push(r) : out.losses.push(r as MetricRow));
    } catch {
      // A line cut by a kill mid-append: dropped, the rest is intact.
    }
  }
  return out;
}

/**
 * `explicit` lists the options the user set on the command line: on resume, those override the checkpoint's saved
 * options; architecture flags that disagree with the checkpoint are refused. When `signal` aborts (the CLI's Ctrl-C),
 * the step under way finishes, a checkpoint is written, and the run returns with `stopped` set: nothing is lost.
 */
export async function train(
  opts: TrainOptions, explicit: ReadonlySet<string> = new Set(), log = (m: string) => console.error(m), signal?: AbortSignal,
): Promise<TrainResult> {
  const t0 = Date.now();
  let o = { ...opts };
  let ckpt: Checkpoint;
  let config: ModelConfig;
  // Before anything touches --out: an unknown --arch fails naming the known families.
  getFamily(o.arch, '--arch');
  const overrides = Object.fromEntries(ARCH_OVERRIDES.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  for (const k of Object.keys(overrides)) {
    if (!Object.hasOwn(getFamily(o.arch).defaults, k)) throw new ConfigError(`--${k} is not an option of --arch ${o.arch}`);
  }
  const fresh = () => resolveConfig(o.model_size, { arch: o.arch as ArchName, ...overrides, ...(o.img_size === undefined ? {} : { img_size: o.img_size }) });
  /** A checkpoint's architecture is kept: an override that differs from it is refused. */
  const keepsArchitecture = (cfg: ModelConfig, where: string, hint: string) => {
    for (const [k, v] of Object.entries(overrides)) {
      const saved = (cfg as unknown as Record<string, unknown>)[k];
      if (saved !== v) throw new CheckpointError(`${where}: --${k} ${v} does not match the checkpoint's ${k} ${JSON.stringify(saved)}${hint}`);
    }
  };
  await checkRunDir(o, explicit);

  if (o.steps === 0 && !o.resume && !o.init_from) {
    // An initialized checkpoint: no data, no backend needed.
    config = fresh();
    await saveCheckpoint(o.out, freshCheckpoint(config, o.seed));
    log(`wrote ${o.out}: ${config.arch} ${config.variant}, ${config.img_size}px, ${countParams(config).toLocaleString('en-US')} params, step 0, seed ${o.seed}`);
    return { dir: o.out, step: 0, lastLoss: NaN, seconds: (Date.now() - t0) / 1000, stopped: false };
  }
  if (o.resume) {
    ckpt = await loadCheckpoint(o.resume);
    config = ckpt.config;
    const where = join(o.resume, 'config.json');
    if (explicit.has('arch') && o.arch !== config.arch) {
      throw new CheckpointError(`${where}: --arch ${o.arch} does not match the checkpoint's arch '${config.arch}'`);
    }
    if (explicit.has('model_size') && o.model_size !== config.variant) {
      throw new CheckpointError(`${where}: --model_size ${o.model_size} does not match the checkpoint's variant '${config.variant}'`);
    }
    if (explicit.has('img_size') && o.img_size !== config.img_size) {
      throw new CheckpointError(`${where}: --img_size ${o.img_size} does not match the checkpoint's img_size ${config.img_size} (use --init_from to change resolution)`);
    }
    keepsArchitecture(config, where, '');
    const saved = (ckpt.train ?? {}) as Partial<TrainOptions>;
    for (const k of RUN_FIELDS) if (!explicit.has(k) && saved[k] !== undefined) (o as Record<string, unknown>)[k] = saved[k];
    // Saved options get the flags' checks: a corrupt or hand-edited train record fails here, naming the field.
    checkTrainOptions(Object.fromEntries(RUN_FIELDS.filter((k) => !explicit.has(k)).map((k) => [k, saved[k]])), (k) => `${where}: field 'train.${k}'`, (m) => new CheckpointError(m));
    if (!explicit.has('out')) o.out = o.resume;
    if (!ckpt.optimizer) throw new CheckpointError(`${where}: has no optimizer state (written with --steps 0?); start a new run with --init_from instead`);
    log(`resuming ${o.resume} at step ${ckpt.step}`);
  } else if (o.init_from) {
    const from = await loadCheckpoint(o.init_from);
    const where = join(o.init_from, 'config.json');
    if (explicit.has('arch') && o.arch !== from.config.arch) {
      throw new CheckpointError(`${where}: --arch ${o.arch} does not match the checkpoint's arch '${from.config.arch}' (--init_from keeps the architecture)`);
    }
    if (explicit.has('model_size') && o.model_size !== from.config.variant) {
      throw new CheckpointError(`${where}: --model_size ${o.model_size} does not match the checkpoint's variant '${from.config.variant}' (--init_from keeps the architecture)`);
    }
    keepsArchitecture(from.config, where, ' (--init_from keeps the architecture)');
    // The checkpoint's architecture at another image size; the family resizes the weights that depend on it.
    const size = o.img_size ?? from.config.img_size;
    const problem = familyOf(from.config).imageSizeProblem(from.config, size);
    if (problem) throw new ConfigError(`--img_size: ${problem}`);
    config = validateConfig({ ...from.config, img_size: size }, `${where} at --img_size ${size}`);
    const weights = weightsForImageSize(from.ema, from.config, config);
    ckpt = { config, step: 0, seed: o.seed, weights, ema: Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.slice()])) };
    log(`weak-to-strong: ${o.init_from} (${from.config.img_size}px, step ${from.step}) -> ${config.img_size}px; size-dependent weights resampled`);
  } else {
    config = fresh();
    ckpt = freshCheckpoint(config, o.seed);
  }

  if (o.eval_every > 0 && !isLabeledDataset(o.dataset)) {
    throw new Error(`--eval_every: sample quality needs a feature network; there is one for ${LABELED_DATASETS.join(', ')}, not for --dataset ${o.dataset}`);
  }
  const choice = await selectEngine(o.backend);
  log(describeEngineChoice(choice));
  if (choice.name === 'wasm') {
    const threads = o.threads === undefined ? 1 : o.threads || availableParallelism();
    if (installWasmKernels({ threads })) log(`wasm: BatchMatMul, GatherV2, Identity and Cast run on LiquidFlow's kernels (wasm-kernels.ts); matmuls on ${threads} thread${threads === 1 ? '' : 's'}`);
  }

  // Shared pixels: the prefetch worker reads them in place; only this copy is kept.
  let loading: { what: string; bar: ProgressBar } | undefined;
  const data = withSharedPixels(await loadDataset({
    name: o.dataset, size: config.img_size, dataDir: o.data_dir,
    onProgress: (done, total, what) => {
      if (loading?.what !== what) {
        loading?.bar.done();
        loading = { what, bar: new ProgressBar(total, { unit: what.split(' ')[0] }) };
      }
      loading.bar.update(done, `${what.endsWith('downloaded') ? 'downloading' : 'loading'} ${o.dataset}`);
    },
  }));
  loading?.bar.done();
  const stepsPerEpoch = Math.ceil(data.count / o.batch_size);
  const total = o.steps ?? o.epochs * stepsPerEpoch;
  log(`${config.arch} ${config.variant} ${config.img_size}px, ${countParams(config).toLocaleString('en-US')} params; ${data.name}: ${data.count} images from ${data.source}; ` +
    `batch ${o.batch_size}, ${total} steps (${(total / stepsPerEpoch).toFixed(2)} epochs), lr ${o.lr}` +
    `${o.lr_decay_steps > 0 ? ` decaying to 0 from step ${Math.max(0, total - o.lr_decay_steps)}` : ''}, ema ${o.ema_decay}`);
  if (o.resume) {
    // The decay is tied to the run's end: moving the end once it has begun makes a schedule no single run has.
    const before = ckpt.train as Partial<TrainOptions> | undefined;
    const lrThen = learningRate(ckpt.step - 1, before?.warmup_steps ?? 0, before?.lr ?? o.lr, before?.lr_decay_steps ?? 0, before?.steps ?? Infinity);
    const lrNow = learningRate(ckpt.step - 1, o.warmup_steps, o.lr, o.lr_decay_steps, total);
    if (ckpt.step > 0 && lrThen !== lrNow) log(`note: the learning rate at step ${ckpt.step} was ${lrThen.toPrecision(3)}; with these flags it is ${lrNow.toPrecision(3)} (a schedule no single run has)`);
  }

  await mkdir(join(o.out, 'samples'), { recursive: true });
  const metricsPath = join(o.out, 'metrics.jsonl');
  const { losses: history, evals } = await readMetrics(metricsPath, ckpt.step);
  // Drop rows after the checkpoint.
  if (o.resume) await writeFileAtomic(metricsPath, [...history, ...evals].sort((a, b) => a.step - b.step).map((r) => JSON.stringify(r) + '\n').join(''));
  // Sample quality (--eval_every): the dataset's feature network, reference set and real-data floor, made once.
  let quality: QualityEvaluator | undefined;
  if (o.eval_every > 0) {
    quality = await QualityEvaluator.create({ dataset: o.dataset, dataDir: o.data_dir, count: o.eval_count, featureNet: o.eval_features, onNote: log });
    const f = quality.floor;
    log(`sample quality every ${o.eval_every} steps on ${quality.count} images; real-data floor FD ${f.fd.toFixed(3)}, precision ${f.precision.toFixed(3)}, recall ${f.recall.toFixed(3)}`);
  }

  const adam: AdamWOptions = { lr: o.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: o.weight_decay, clipNorm: o.grad_clip };
  let engine: TrainEngine;
  if (choice.name === 'ort') {
    const threads = o.threads === 0 ? availableParallelism() : o.threads;
    const ortEngine = await OrtEngine.create(config, ckpt, adam, { batch: o.batch_size, device: o.device, threads });
    log(`ort: ${ortEngine.info.nodes} nodes, session ready in ${ortEngine.info.sessionSeconds.toFixed(1)} s on ${ortEngine.description} (${ortEngine.deviceReason})`);
    engine = ortEngine;
  } else {
    engine = new TfjsEngine(config, ckpt, adam);
  }
  const trainRecord = { ...o, arch: config.arch, model_size: config.variant, img_size: config.img_size, steps: total, resume: undefined, init_from: undefined, force: undefined };

  let step = ckpt.step;
  let lastSaved = step;
  // A save must pass a health check before it replaces the previous checkpoint (checkpoint-health.ts).
  const guard = new CheckpointGuard(ckpt, o.resume ? { dir: o.resume, step: ckpt.step } : null);
  const save = async () => {
    const state = await engine.state();
    const norms = guard.check(state, o.out, step);
    await saveCheckpoint(o.out, { config, step, seed: o.seed, ...state, train: trainRecord });
    guard.saved(norms, o.out, step);
    lastSaved = step;
  };
  const pictures = async () => {
    await writeFileAtomic(join(o.out, 'samples', `step_${String(step).padStart(8, '0')}.png`), await sampleGridPng(await engine.emaVelocity(), config, o.sample_count, o.sample_steps, 0));
    const series: CurveSeries[] = [
      { name: 'loss', color: [220, 50, 47], points: history.map((r) => ({ step: r.step, value: r.loss })) },
      { name: 'flow', color: [38, 139, 210], points: history.map((r) => ({ step: r.step, value: r.flow })) },
      { name: 'smooth', color: [133, 153, 0], points: history.map((r) => ({ step: r.step, value: r.smooth })) },
      { name: 'tv', color: [108, 113, 196], points: history.map((r) => ({ step: r.step, value: r.tv })) },
    ];
    await writeFileAtomic(join(o.out, 'loss.png'), lossCurvePng(series, quality && { points: evals.map((r) => ({ step: r.step, value: r.fd })), floor: quality.floor.fd }));
  };
  const evaluate = async (q: QualityEvaluator) => {
    const t0 = performance.now();
    const x = await generateForQuality(await engine.emaVelocity(), config, q.count, o.sample_steps, o.seed);
    const s = await q.score(x, q.count, config.img_size);
    const row: EvalRow = {
      kind: 'eval', step, ...s, count: q.count, sampler: 'euler', sampling_steps: o.sample_steps,
      real_fd: q.floor.fd, real_precision: q.floor.precision, real_recall: q.floor.recall, seconds: (performance.now() - t0) / 1000, time: new Date().toISOString(),
    };
    evals.push(row);
    await appendFile(metricsPath, JSON.stringify(row) + '\n');
    return row;
  };

  if (step >= total) {
    if (o.resume) log(`${o.out} is already at step ${step} (>= --steps ${total}): nothing to train; pass a larger --steps`);
    else await save(); // --init_from with --steps 0: the resized checkpoint itself
  }
  const bar = new ProgressBar(total);
  let smoothLoss = NaN;
  let windowStart = Date.now();
  let windowSteps = 0;
  let dataMs = 0;
  let rate = 0;
  let last: LossParts = { total: NaN, flow: NaN, smooth: NaN, tv: NaN, gradNorm: NaN };
  const batches = openBatchSource(data, { seed: o.seed, batchSize: o.batch_size, flip: o.flip, depth: o.prefetch });
  try {
    while (step < total && !signal?.aborted) {
      // data_ms: how long the step waited for its batch (near 0 when prefetching keeps up).
      const td = performance.now();
      const batch = await batches.take(step);
      dataMs += performance.now() - td;
      const lr = learningRate(step, o.warmup_steps, o.lr, o.lr_decay_steps, total);
      const w = physicsWarmup(step, o.physics_warmup);
      last = await engine.step({
        x0: batch.x0, noise: batch.noise, t: batch.t, lr, physics: { smooth: o.lambda_smooth * w, tv: o.lambda_tv * w }, emaDecay: emaDecayAt(o.ema_decay, step),
      });
      step += 1;
      windowSteps += 1;
      smoothLoss = Number.isNaN(smoothLoss) ? last.total : 0.95 * smoothLoss + 0.05 * last.total;
      const elapsed = (Date.now() - windowStart) / 1000;
      rate = windowSteps / Math.max(1e-9, elapsed);
      if (step % o.log_every === 0 || step === total) {
        const row: MetricRow = {
          step, epoch: batch.epoch, loss: last.total, flow: last.flow, smooth: last.smooth, tv: last.tv, lr, grad_norm: last.gradNorm,
          steps_per_s: rate, data_ms: dataMs / windowSteps, time: new Date().toISOString(),
        };
        history.push(row);
        await appendFile(metricsPath, JSON.stringify(row) + '\n');
        if (elapsed > 60) (windowStart = Date.now()), (windowSteps = 0), (dataMs = 0);
      }
      bar.update(step, `epoch ${(step / stepsPerEpoch).toFixed(2)} loss ${smoothLoss.toFixed(4)}`, rate);
      if (step % o.sample_every === 0 || step === total) {
        await pictures();
        bar.log(`step ${step}: loss ${smoothLoss.toFixed(4)}; samples/step_${String(step).padStart(8, '0')}.png and loss.png written`);
      }
      if (quality && (step % o.eval_every === 0 || step === total)) {
        const r = await evaluate(quality);
        bar.log(`step ${step}: FD ${r.fd.toFixed(3)} (real ${r.real_fd.toFixed(3)}), precision ${r.precision.toFixed(3)}, recall ${r.recall.toFixed(3)} in ${r.seconds.toFixed(0)} s`);
        if (!(step % o.sample_every === 0 || step === total)) await pictures();
      }
      if (step % o.save_every === 0 || step === total) await save();
    }
    if (step > lastSaved) await save(); // stopped by the signal between checkpoints
  } catch (e) {
    bar.done();
    if (e instanceof NonFiniteLossError || e instanceof NonFiniteWeightsError || e instanceof ExplodedWeightsError || e instanceof NonFiniteOutputError) {
      throw new Error(`training stopped at step ${e instanceof NonFiniteLossError ? step + 1 : step}: ${e.message}. ${guard.describe()}; ` +
        'try a lower --lr or --grad_clip');
    }
    throw e;
  } finally {
    await batches.close();
    await engine.dispose();
    await quality?.dispose();
  }
  bar.done();
  const seconds = (Date.now() - t0) / 1000;
  const stopped = step < total;
  if (stopped) {
    log(`stopped at step ${step} of ${total} (${step > ckpt.step ? 'checkpoint written' : 'no step taken'}); continue with: liquidflow-train --resume ${o.out}`);
  } else {
    log(`done: ${o.out} at step ${step} in ${formatSeconds(seconds)}`);
  }
  return { dir: o.out, step, lastLoss: last.total, seconds, stopped };
}
