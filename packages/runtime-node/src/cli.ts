#!/usr/bin/env node
// liquidflow-generate MODEL.onnx|URL|FOLDER [--count 16] [--steps 25] [--sampler euler|heun] [--seed 0] [--dtype auto] [--out grid.png] [--out_dir DIR]
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkDtypeOption, checkSampleOptions, type DtypeOption, type FlagSpec, writeFileAtomicWith, imageGrid, MODEL_DTYPES, parseCommandLine, ProgressBar, SAMPLERS,
  type SamplerName,
} from '@liquidflow/core';
import { LiquidFlow } from './liquidflow.js';
import { encodePng } from './png.js';
import { NODE_DEVICES } from './devices.js';
import type { NodeDevice } from './protocol.js';

const HELP = `Usage: liquidflow-generate MODEL.onnx|FOLDER [options]

Generates images from a LiquidFlow model exported by liquidflow-export. MODEL.onnx is a file path or an
http(s) URL (downloaded with a progress bar); a folder (or a URL not ending in .onnx) holds the model in several
precisions (model.onnx, model_fp16.onnx, model_q8.onnx, model_q4.onnx), picked with --dtype.

Options:
  --count N          images to generate (default 16)
  --steps N          integration steps (default 25)
  --sampler NAME     ${SAMPLERS.join(' or ')} (default euler; heun evaluates the model twice per step)
  --seed N           noise seed; the same seed gives the same images everywhere (default 0)
  --out FILE         PNG grid of all images (default grid.png)
  --out_dir DIR      also write one PNG per image into DIR
  --device NAME      ${NODE_DEVICES.join(', ')} (default auto)
  --dtype NAME       auto, ${MODEL_DTYPES.join(', ')} (default auto: fp32 for a folder, else the file's own)
  --threads N        ORT intra-op threads
  -h, --help         show this help

Flags are --snake_case; kebab-case aliases (--out-dir) are accepted, as in liquidflow-train and liquidflow-export.`;

const FLAGS = {
  count: { type: 'number', default: 16, help: 'images' },
  steps: { type: 'number', default: 25, help: 'integration steps' },
  sampler: { type: 'string', default: 'euler', help: SAMPLERS.join(' or ') },
  seed: { type: 'number', default: 0, help: 'noise seed' },
  out: { type: 'string', default: 'grid.png', help: 'PNG grid' },
  out_dir: { type: 'string', default: '', help: 'one PNG per image' },
  device: { type: 'string', default: 'auto', help: NODE_DEVICES.join(', ') },
  threads: { type: 'number', default: 0, help: 'ORT intra-op threads' },
  dtype: { type: 'string', default: 'auto', help: 'precision' },
} satisfies FlagSpec;

function parse(argv: string[]) {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP);
    process.exit(0);
  }
  const { flags, positionals } = parseCommandLine(argv, FLAGS, 'liquidflow-generate', 1);
  if (positionals.length === 0) throw new Error('expected MODEL.onnx (see --help)');
  const o = {
    model: positionals[0], count: flags.count as number, steps: flags.steps as number, sampler: flags.sampler as SamplerName, seed: flags.seed as number,
    out: flags.out as string, outDir: flags.out_dir as string, device: flags.device as NodeDevice, threads: flags.threads as number, dtype: flags.dtype as DtypeOption,
  };
  for (const k of ['count', 'steps', 'seed', 'threads'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0 || (k !== 'seed' && k !== 'threads' && o[k] < 1)) throw new Error(`--${k} must be a positive integer, got '${o[k]}'`);
  }
  if (!SAMPLERS.includes(o.sampler)) throw new Error(`--sampler must be ${SAMPLERS.join(' or ')}, got '${o.sampler}'`);
  // The library's own limits, checked before the model loads (its size is checked again by generate()).
  checkSampleOptions({ count: o.count, steps: o.steps, sampler: o.sampler, seed: o.seed, channels: 1, size: 1 }, '--');
  try {
    checkDtypeOption(o.dtype);
  } catch (e) {
    throw new Error(`--${(e as Error).message}`);
  }
  if (!NODE_DEVICES.includes(o.device)) throw new Error(`--device must be one of ${NODE_DEVICES.join(', ')}, got '${o.device}'`);
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  // A URL's download as a bar in kB (a file is read at once and draws none). Without a Content-Length the total grows
  // with the bytes: the bar is remade for each new total, with the rate since the download began.
  let download: { bar: ProgressBar; total: number; start: number } | undefined;
  let downloading = false;
  const lf = await LiquidFlow.load(o.model, {
    device: o.device, threads: o.threads || undefined, dtype: o.dtype,
    progress_callback: (e) => {
      if (e.status === 'download') downloading = true;
      else if (e.status === 'progress' && downloading) {
        const total = Math.max(1, Math.round(e.total / 1e3));
        if (download?.total !== total) download = { bar: new ProgressBar(total, { unit: 'kB', plainEveryMs: 2000 }), total, start: download?.start ?? Date.now() };
        const kB = Math.round(e.loaded / 1e3);
        download.bar.update(kB, 'kB downloaded', kB / Math.max(0.25, (Date.now() - download.start) / 1000));
      } else if (e.status === 'done') download?.bar.done();
    },
  });
  const c = lf.config;
  process.stderr.write(`${lf.path}: ${c.arch} ${c.variant} ${c.img_size}px, ${lf.dtype} (${lf.dtypeReason}), on ${lf.device} (${lf.deviceReason}); ${o.count} images, ${o.steps} ${o.sampler} steps, seed ${o.seed}\n`);
  const t0 = Date.now();
  let bar: ProgressBar | undefined;
  const images = await lf.generate({
    count: o.count, steps: o.steps, sampler: o.sampler, seed: o.seed,
    onProgress: (p) => (bar ??= new ProgressBar(p.total, { plainEveryMs: 2000 })).update(p.step, `${o.sampler} sampling`, p.step / Math.max(1e-9, p.elapsed / 1000)),
  });
  bar?.done();
  await lf.dispose();
  const grid = imageGrid(images);
  // Atomic (temp file, fsync, rename): a full disk or a kill leaves the previous file, not a torn PNG.
  await writeFileAtomicWith(fs, o.out, encodePng(grid.width, grid.height, grid.data));
  let msg = `wrote ${o.out} (${grid.width}x${grid.height}, ${images.length} images) in ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  if (o.outDir) {
    await fs.mkdir(o.outDir, { recursive: true });
    // allSettled: exiting on the first failure would cut the other writes short and leave their temp files.
    const writes = await Promise.allSettled(images.map((img, i) => img.save(join(o.outDir, `${String(i).padStart(3, '0')}.png`))));
    const failed = writes.find((w) => w.status === 'rejected');
    if (failed) throw failed.reason;
    msg += ` and ${images.length} PNGs in ${o.outDir}`;
  }
  console.log(msg);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`liquidflow-generate: ${e.message}`);
    process.exit(1);
  },
);
