#!/usr/bin/env node
// liquidflow-train: trains a model family with onnxruntime or TensorFlow.js; --steps 0 writes a freshly initialized checkpoint.
import { ARCH_NAMES, getFamily } from '@liquidflow/core';
import { parseFlags, helpText, type FlagSpec } from '@liquidflow/core';
import { NODE_DEVICES } from '@liquidflow/runtime-node';
import { ENGINE_PRIORITY } from './engine.js';
import { DATASETS } from './datasets/index.js';
import { train, TRAIN_DEFAULTS, type TrainOptions } from './train.js';
import { checkTrainOptions } from './train-options.js';

const D = TRAIN_DEFAULTS;
const pad = ' '.repeat(23);
const FLAGS = {
  arch: { type: 'string', default: D.arch, help: `model family of a new run (a resume keeps the checkpoint's):\n${ARCH_NAMES.map((a) => `${pad}${a}: ${getFamily(a).description}`).join('\n')}\n${' '.repeat(22)}` },
  model_size: { type: 'string', default: D.model_size, help: `variant of --arch (models/variants/<arch>/*.json): ${ARCH_NAMES.map((a) => `${a}: ${getFamily(a).variantNames.join(', ')}`).join('; ')}` },
  img_size: { type: 'number', default: undefined, help: "image size in pixels (default: the variant's)" },
  pad_tokens: { type: 'number', default: undefined, help: "liquidflow: DiM's learnable padding tokens, N extra rows and columns of the token grid inside the blocks (default 0: none)" },
  smoothers: { type: 'string', default: undefined, help: "liquidflow: 3x3 depthwise smoothers, pixels (token grid after the position embedding, pixels after unpatchify; the default) or tokens (DiM: token grid after the position embedding and after the last block)" },
  scan_schedule: { type: 'string', default: undefined, help: "liquidflow: snake (per-block zigzag orders, each restored; the default of small, base and 512) or dim (DiM's mirrored H+/H-/V+/V- raster schedule, restored once; tiny's default)" },
  ssm: { type: 'string', default: undefined, help: "liquidflow's SSM of a new run (a resume keeps the checkpoint's): head (one decay per head, Mamba-2 style; the variants' default) or channel (Mamba-1 / DiM: dt per channel through a low-rank projection, A per channel and state; slower, see the trainer README)" },
  dataset: { type: 'string', default: D.dataset, help: `training images, one of:\n${Object.entries(DATASETS).map(([k, v]) => `${' '.repeat(23)}${k}: ${v.help}`).join('\n')}\n${' '.repeat(22)}` },
  data_dir: { type: 'string', default: undefined, help: 'where the dataset lives (required for folder)' },
  epochs: { type: 'number', default: D.epochs, help: 'passes over the data (ignored when --steps is set)' },
  batch_size: { type: 'number', default: D.batch_size, help: 'images per step' },
  steps: { type: 'number', default: undefined, help: "the run's total optimizer steps; 0 writes an initialized checkpoint" },
  lr: { type: 'number', default: D.lr, help: 'peak AdamW learning rate (after warm-up)' },
  warmup_steps: { type: 'number', default: D.warmup_steps, help: 'linear learning-rate warm-up' },
  lr_decay_steps: { type: 'number', default: D.lr_decay_steps, help: 'linear learning-rate decay to 0 over the last N of --steps (0 = constant to the end)' },
  weight_decay: { type: 'number', default: D.weight_decay, help: 'AdamW decoupled weight decay (matrices only)' },
  grad_clip: { type: 'number', default: D.grad_clip, help: 'clip the global gradient norm (0 = off)' },
  ema_decay: { type: 'number', default: D.ema_decay, help: 'EMA of the weights (sampled and exported by default)' },
  lambda_smooth: { type: 'number', default: D.lambda_smooth, help: 'weight of the Laplacian smoothness loss on predicted x0' },
  lambda_tv: { type: 'number', default: D.lambda_tv, help: 'weight of the total-variation loss on predicted x0' },
  physics_warmup: { type: 'number', default: D.physics_warmup, help: 'steps over which the physics terms ramp up linearly' },
  flip: { type: 'boolean', default: D.flip, help: 'random horizontal flips (--flip=false to turn off)' },
  seed: { type: 'number', default: D.seed, help: 'seed for init, data order, noise and t' },
  out: { type: 'string', default: D.out, help: 'run directory: checkpoint, metrics.jsonl, samples/, loss.png (a new run needs it missing or empty)' },
  force: { type: 'boolean', default: false, help: 'start a new run in a non-empty --out, overwriting its checkpoint' },
  resume: { type: 'string', default: undefined, help: 'continue the run in this directory exactly where its checkpoint left off' },
  init_from: { type: 'string', default: undefined, help: 'weak-to-strong: start from a checkpoint trained at a smaller --img_size' },
  backend: { type: 'string', default: D.backend, help: `training engine: auto (the fastest present, fastest first: ${ENGINE_PRIORITY.join(' > ')}) or one of them; ort runs the whole step as one ONNX graph on onnxruntime` },
  device: { type: 'string', default: D.device, help: `ort engine: ${NODE_DEVICES.join(', ')} (auto: CUDA if onnxruntime-node's CUDA provider loads, else cpu)` },
  log_every: { type: 'number', default: D.log_every, help: 'steps between metrics.jsonl rows' },
  sample_every: { type: 'number', default: D.sample_every, help: 'steps between sample grids (EMA weights, fixed seed) and loss.png' },
  save_every: { type: 'number', default: D.save_every, help: 'steps between checkpoints (one is always written at the end)' },
  sample_count: { type: 'number', default: D.sample_count, help: 'images per sample grid' },
  sample_steps: { type: 'number', default: D.sample_steps, help: 'Euler steps for sample grids' },
  eval_every: { type: 'number', default: D.eval_every, help: 'steps between sample-quality evaluations of the EMA weights: FD, precision, recall in metrics.jsonl and under loss.png (0 = off; fashion-mnist and emoji)' },
  eval_count: { type: 'number', default: D.eval_count, help: 'images per evaluation (generated with --sample_steps Euler steps; compare FDs only at one count)' },
  eval_features: { type: 'string', default: undefined, help: 'feature network .onnx for the evaluations (default models/feature-nets/<dataset>/model.onnx)' },
  prefetch: { type: 'number', default: D.prefetch, help: 'batches built ahead in a worker thread while a step trains (0: on the main thread)' },
  threads: { type: 'number', default: undefined, help: 'ort: intra-op threads (default: one per core); wasm: threads a large matmul is split across (default 1; more is opt-in, less tested); 0: one per core' },
} satisfies FlagSpec;

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText('liquidflow-train', 'Trains LiquidFlow (rectified flow + physics-informed loss, AdamW, EMA) with onnxruntime or TensorFlow.js.', FLAGS));
    return;
  }
  const f = parseFlags(argv, FLAGS, 'liquidflow-train') as unknown as TrainOptions;
  if (!(NODE_DEVICES as readonly string[]).includes(f.device)) throw new Error(`--device must be one of ${NODE_DEVICES.join(', ')}, got '${f.device}'`);
  getFamily(f.arch, '--arch');
  checkTrainOptions(f as unknown as Record<string, unknown>, (k) => `--${k}`);
  const explicit = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0].replace(/-/g, '_')));
  // Ctrl-C (or SIGTERM) finishes the step under way and writes a checkpoint; a second one quits at once, which is
  // safe too (checkpoints are atomic) but loses the steps since the last save.
  const stop = new AbortController();
  const onSignal = (name: string) => {
    if (stop.signal.aborted) process.exit(130);
    console.error(`\n${name}: stopping after this step and writing a checkpoint (${name} again quits now)`);
    stop.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  await train(f, explicit, undefined, stop.signal);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liquidflow-train: ${e.message}`);
    process.exit(1);
  },
);
