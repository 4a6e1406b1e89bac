#!/usr/bin/env node
// liquidflow-eval MODEL.onnx|FOLDER --dataset NAME: sample quality as Fréchet distance, precision and recall in the
// dataset's feature-network space, next to the real-data floor (quality/sample-quality.ts).
import { existsSync, statSync } from 'node:fs';
import { checkSampleOptions, ProgressBar, SAMPLERS, type SamplerName } from '@liquidflow/core';
import { LiquidFlow, NODE_DEVICES, type NodeDevice } from '@liquidflow/runtime-node';
import { parseCommandLine, helpText, type FlagSpec } from '@liquidflow/core';
import { loadImageFolder } from './datasets/folder.js';
import { LABELED_DATASETS, isLabeledDataset } from './quality/labeled-sets.js';
import { QualityEvaluator, type QualityScores, generateFromModel } from './quality/sample-quality.js';

const FLAGS = {
  dataset: { type: 'string', default: undefined, help: `the data the model learned: ${LABELED_DATASETS.join(', ')} (a shipped feature network each)` },
  count: { type: 'number', default: 5000, help: 'images per set: generated, reference and held-out real (FD depends on it: compare at one count)' },
  steps: { type: 'number', default: 25, help: 'sampling steps' },
  sampler: { type: 'string', default: 'heun', help: SAMPLERS.join(' or ') },
  seed: { type: 'number', default: 0, help: 'noise seed of the generated set' },
  json: { type: 'boolean', default: false, help: 'print one JSON object on stdout (progress stays on stderr)' },
  features: { type: 'string', default: undefined, help: 'feature network .onnx (default models/feature-nets/<dataset>/model.onnx)' },
  data_dir: { type: 'string', default: undefined, help: 'where the dataset lives (as liquidflow-train)' },
  device: { type: 'string', default: 'auto', help: `generation device: ${NODE_DEVICES.join(', ')}` },
  threads: { type: 'number', default: undefined, help: 'ORT intra-op threads' },
} satisfies FlagSpec;

const SUMMARY = `Scores a model's samples (or a folder of PNG/JPEG images from any generator) against a dataset: Fréchet distance
(lower is better), precision (realism) and recall (coverage) in the dataset's feature-network space, and the same
figures for held-out real images (the floor a perfect generator would reach).

  liquidflow-eval MODEL.onnx --dataset fashion-mnist [--count 5000] [--steps 25] [--sampler heun] [--seed 0] [--json]
  liquidflow-eval FOLDER --dataset fashion-mnist`;

const fmtRow = (name: string, s: QualityScores) => `${name.padEnd(18)} ${s.fd.toFixed(3).padStart(9)} ${s.precision.toFixed(3).padStart(10)} ${s.recall.toFixed(3).padStart(8)}`;

async function generated(target: string, evaluator: QualityEvaluator, f: Record<string, unknown>, err: NodeJS.WriteStream) {
  const count = evaluator.count;
  if (statSync(target).isDirectory()) {
    const ds = await loadImageFolder(target, evaluator.net.config.img_size, { onWarning: (m) => err.write(`${m}\n`) });
    if (ds.count < count) throw new Error(`${target}: ${ds.count} images, fewer than --count ${count}`);
    return { pixels: ds.pixels.subarray(0, count * ds.size * ds.size * 3), size: ds.size, what: `${count} of ${ds.count} images in ${target}` };
  }
  const sampler = f.sampler as SamplerName;
  checkSampleOptions({ count: 1, channels: 1, size: 1, steps: f.steps as number, sampler, seed: f.seed as number }, '--');
  const model = await LiquidFlow.load(target, { device: f.device as NodeDevice, threads: f.threads as number | undefined });
  try {
    const bar = new ProgressBar(count, { unit: 'images', out: err, plainEveryMs: 10_000 });
    const t0 = performance.now();
    const pixels = await generateFromModel(model, count, { steps: f.steps as number, sampler, seed: f.seed as number },
      (done) => bar.update(Math.floor(done), `${sampler} ${f.steps} steps`, done / ((performance.now() - t0) / 1000)));
    bar.done();
    return { pixels, size: model.config.img_size, what: `${count} images from ${target}, ${sampler} ${f.steps} steps, seed ${f.seed}` };
  } finally {
    await model.dispose();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText('liquidflow-eval', SUMMARY, FLAGS, 'liquidflow-eval MODEL.onnx|FOLDER [flags]'));
    return;
  }
  const { flags: f, positionals } = parseCommandLine(argv, FLAGS, 'liquidflow-eval', 1);
  const target = positionals[0];
  if (target === undefined) throw new Error('expected the model (.onnx) or a folder of images to score (see --help)');
  if (f.dataset === undefined) throw new Error(`--dataset is required: the data the model learned (${LABELED_DATASETS.join(', ')})`);
  if (!isLabeledDataset(f.dataset as string)) throw new Error(`--dataset ${f.dataset}: sample quality knows ${LABELED_DATASETS.join(', ')} (each has labels and a feature network)`);
  if (!existsSync(target)) throw new Error(`${target}: no such model file or image folder`);
  const count = f.count as number;
  if (!Number.isInteger(count) || count < 4 || count > 100_000) throw new Error(`--count must be an integer in [4, 100000], got ${count}`);
  const err = process.stderr;
  const t0 = performance.now();
  const evaluator = await QualityEvaluator.create({
    dataset: f.dataset as string, dataDir: f.data_dir as string | undefined, count, featureNet: f.features as string | undefined,
    threads: f.threads as number | undefined, onNote: (l) => err.write(`${l}\n`),
  });
  try {
    const gen = await generated(target, evaluator, f, err);
    const scores = await evaluator.score(gen.pixels, evaluator.count, gen.size);
    const rec = evaluator.net.record;
    const report = {
      target, dataset: evaluator.dataset, count: evaluator.count,
      ...(statSync(target).isDirectory() ? {} : { steps: f.steps, sampler: f.sampler, seed: f.seed }),
      feature_net: { path: evaluator.net.path, held_out_accuracy: rec.held_out_accuracy, width: evaluator.net.width },
      generated: scores, real_floor: evaluator.floor, seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
    if (f.json) {
      console.log(JSON.stringify(report));
      return;
    }
    console.log(`${gen.what}`);
    console.log(`feature network ${evaluator.net.path} (${evaluator.net.width} features, held-out accuracy ${(rec.held_out_accuracy * 100).toFixed(1)}%)`);
    console.log(`${''.padEnd(18)} ${'FD'.padStart(9)} ${'precision'.padStart(10)} ${'recall'.padStart(8)}`);
    console.log(fmtRow('generated', scores));
    console.log(fmtRow('real (held-out)', evaluator.floor));
  } finally {
    await evaluator.dispose();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liquidflow-eval: ${e.message}`);
    process.exit(1);
  },
);
