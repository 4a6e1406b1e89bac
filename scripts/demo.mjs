// `npm start`: the main job on a built-in default, no flags and no downloads: generate a grid of images from the
// demo model shipped in models/ (trained here with liquidflow-train, see its model card), on the CPU.
import { existsSync, mkdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProgressBar, writeFileAtomicWith } from '@liquidflow/core';
import { LiquidFlow, encodePng, imageGrid } from '@liquidflow/runtime-node';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MODEL = join(root, 'models', 'fashion-mnist-tiny', 'model.onnx');
const OUT = join(root, 'out', 'demo', 'grid.png');

async function main() {
  if (!existsSync(MODEL)) throw new Error(`${relative(root, MODEL)} is missing: the demo model ships in the repository (git checkout it)`);
  const lf = await LiquidFlow.load(MODEL, { device: 'auto' });
  const c = lf.config;
  console.log(`${relative(root, MODEL)}: ${c.variant} ${c.img_size}px on ${lf.device} (${lf.deviceReason})`);
  const t0 = Date.now();
  let bar;
  const images = await lf.generate({
    count: 16, steps: 25, sampler: 'heun', seed: 0,
    onProgress: ({ step, total }) => (bar ??= new ProgressBar(total, { plainEveryMs: 2000 })).update(step, 'Heun sampling'),
  });
  bar?.done();
  await lf.dispose();
  const grid = imageGrid(images);
  mkdirSync(join(root, 'out', 'demo'), { recursive: true });
  await writeFileAtomicWith(fs, OUT, encodePng(grid.width, grid.height, grid.data)); // compressed (zlib level 9)
  console.log(`wrote ${relative(root, OUT)}: 16 images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log('next: train your own with liquidflow-train (see README.md), export it with liquidflow-export --verify');
}

main().catch((e) => {
  console.error(`npm start: ${e.message}`);
  process.exit(1);
});
