// Section 'quality': the steps/quality trade of the shipped demo model. FD, precision and recall (liquidflow-eval's
// metric, Fashion-MNIST feature network) at 10, 25 and 50 steps, Euler and Heun, each on the same noise seeds, next
// to the real-data floor. 500 images per set by default (--quality_count=N): FD depends on the count, so compare these
// rows with each other, not with liquidflow-eval's default of 5000.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LiquidFlow } from '@liquidflow/runtime-node';
import { FASHION_MNIST_DIR, QualityEvaluator, generateFromModel } from '@liquidflow/trainer';
import { fixed, progress } from './util.mjs';

const MODEL = join(import.meta.dirname, '..', '..', 'models', 'fashion-mnist-tiny', 'model.onnx');
const STEPS = [10, 25, 50];
const SAMPLERS = ['euler', 'heun'];

export async function qualitySection(ctx) {
  const count = Number(process.argv.find((a) => a.startsWith('--quality_count='))?.split('=')[1] ?? 500);
  const title = `Sample quality of models/fashion-mnist-tiny vs sampling steps (${count} images per set, Fashion-MNIST features)`;
  const columns = [
    { key: 'sampler', header: 'sampler', align: 'left' }, { key: 'steps', header: 'steps' }, { key: 'evals', header: 'model evals' },
    { key: 'fd', header: 'FD', fmt: fixed(2) }, { key: 'precision', header: 'precision', fmt: fixed(3) }, { key: 'recall', header: 'recall', fmt: fixed(3) },
    { key: 'seconds', header: 'seconds', fmt: fixed(1) },
  ];
  if (!existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'))) {
    return { title, columns, rows: [], notes: [`not measured: Fashion-MNIST is not installed (${FASHION_MNIST_DIR}; apt-get install dataset-fashion-mnist)`] };
  }
  const q = await QualityEvaluator.create({ dataset: 'fashion-mnist', count, threads: ctx.ortOptions.intraOpNumThreads });
  const model = await LiquidFlow.load(MODEL, { device: 'cpu', threads: ctx.ortOptions.intraOpNumThreads });
  const rows = [];
  try {
    for (const sampler of SAMPLERS) {
      for (const steps of STEPS) {
        progress(`quality: ${sampler} ${steps} steps`);
        const t0 = performance.now();
        const pixels = await generateFromModel(model, q.count, { steps, sampler, seed: 0 });
        const s = await q.score(pixels, q.count, model.config.img_size);
        rows.push({ sampler, steps, evals: sampler === 'heun' ? 2 * steps - 1 : steps, ...s, seconds: (performance.now() - t0) / 1000 });
      }
    }
  } finally {
    await model.dispose();
    await q.dispose();
  }
  rows.push({ sampler: 'real (held-out)', steps: undefined, evals: undefined, ...q.floor, seconds: undefined });
  return {
    title, columns, rows,
    notes: ['FD: Fréchet distance of feature Gaussians (lower is better); precision: share of samples on the data manifold; recall: share of data covered by the samples (k = 3).',
      'Heun evaluates the model twice per step except the last; the last row is held-out real images scored the same way (the floor).'],
  };
}
