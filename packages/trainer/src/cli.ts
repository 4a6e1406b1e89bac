#!/usr/bin/env node
// liquidflow-train: writes a LiquidFlow checkpoint. `--steps 0` writes a freshly initialized one.
import { resolveConfig, countParams, VARIANTS } from '@liquidflow/core';
import { parseFlags, helpText, type FlagSpec } from './cli-args.js';
import { saveCheckpoint } from './checkpoint.js';
import { freshCheckpoint } from './init-checkpoint.js';

const FLAGS = {
  model_size: { type: 'string', default: 'tiny', help: `variant: ${Object.keys(VARIANTS).join(', ')} (models/variants/*.json)` },
  img_size: { type: 'number', default: undefined, help: "image size in pixels (default: the variant's)" },
  steps: { type: 'number', default: 0, help: 'total optimizer steps; 0 writes a freshly initialized checkpoint' },
  seed: { type: 'number', default: 0, help: 'seed for weight init' },
  out: { type: 'string', default: 'ckpt', help: 'checkpoint directory to write' },
} satisfies FlagSpec;

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText('liquidflow-train', 'Trains LiquidFlow with TensorFlow.js and writes a checkpoint directory.', FLAGS));
    return;
  }
  const f = parseFlags(argv, FLAGS, 'liquidflow-train');
  const seed = f.seed as number;
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${seed}`);
  const steps = f.steps as number;
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`--steps must be a non-negative integer, got ${steps}`);
  if (steps > 0) {
    throw new Error('training on a dataset is not available in this build yet; use --steps 0 to write an initialized checkpoint');
  }
  const overrides = f.img_size === undefined ? {} : { img_size: f.img_size as number };
  const config = resolveConfig(f.model_size as string, overrides);
  const ckpt = freshCheckpoint(config, seed);
  await saveCheckpoint(f.out as string, ckpt);
  console.log(
    `wrote ${f.out}: ${config.variant}, ${config.img_size}px, ${countParams(config).toLocaleString('en-US')} params, step 0, seed ${seed}`,
  );
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liquidflow-train: ${e.message}`);
    process.exit(1);
  },
);
