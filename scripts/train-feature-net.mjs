// Trains the feature network of the sample-quality metric for one labelled dataset and writes it where
// liquidflow-eval looks for it (models/feature-nets/<dataset>/model.onnx). The file records this command for its card.
//   node scripts/train-feature-net.mjs --dataset fashion-mnist [--epochs 15] [--batch_size 128] [--lr 0.002] [--out PATH]
import { helpText, parseFlags } from '@liquidflow/core';
import { FEATURE_NET_DEFAULTS as D, LABELED_DATASETS, isLabeledDataset, trainFeatureNet } from '@liquidflow/trainer';

const FLAGS = {
  dataset: { type: 'string', default: 'fashion-mnist', help: LABELED_DATASETS.join(' or ') },
  data_dir: { type: 'string', default: undefined, help: 'where the dataset lives (as liquidflow-train)' },
  out: { type: 'string', default: undefined, help: 'the .onnx to write (default models/feature-nets/<dataset>/model.onnx)' },
  epochs: { type: 'number', default: D.epochs, help: 'passes over the training split' },
  batch_size: { type: 'number', default: D.batch, help: 'images per step' },
  lr: { type: 'number', default: D.lr, help: 'peak AdamW learning rate (warm-up, then linear decay to 0)' },
  seed: { type: 'number', default: D.seed, help: 'init and data order' },
  threads: { type: 'number', default: undefined, help: 'ORT intra-op threads' },
};
const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log(helpText('node scripts/train-feature-net.mjs', 'Trains a feature network for liquidflow-eval from a dataset\'s labels.', FLAGS));
  process.exit(0);
}
const f = parseFlags(argv, FLAGS, 'train-feature-net');
for (const k of ['epochs', 'batch_size']) if (!(Number.isInteger(f[k]) && f[k] > 0)) throw new Error(`--${k}: expected a positive integer, got ${f[k]}`);
if (!(f.lr > 0)) throw new Error(`--lr: expected a positive number, got ${f.lr}`);
if (!isLabeledDataset(f.dataset)) throw new Error(`--dataset: expected one of ${LABELED_DATASETS.join(', ')}, got '${f.dataset}'`);
await trainFeatureNet({
  dataset: f.dataset, dataDir: f.data_dir, out: f.out ?? `models/feature-nets/${f.dataset}/model.onnx`,
  epochs: f.epochs, batch: f.batch_size, lr: f.lr, seed: f.seed, imgSize: D.imgSize, widths: D.widths, threads: f.threads,
  command: ['node scripts/train-feature-net.mjs', ...argv].join(' '),
});
