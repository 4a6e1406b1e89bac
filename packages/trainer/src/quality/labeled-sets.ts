// Labelled images of the datasets that have a feature network, split in two: 'train' (trains the feature network and
// is the reference set of the metric) and 'heldOut' (never trained on: measures the network's accuracy and gives the
// metric's real-data floor). Images are decoded at the requested size by the dataset loaders the trainer uses.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { hashString } from '@liquidflow/core';
import { DatasetError, type LoadProgress } from '../datasets/dataset.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist, loadFashionMnistLabels } from '../datasets/fashion-mnist.js';
import { findEmojiPngDir, loadEmoji, resolveEmojiPackage } from '../datasets/emoji.js';

export interface LabeledImages {
  count: number;
  size: number;
  /** [count, size, size, 3] RGB bytes, as ImageDataset.pixels. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

export interface LabeledSplits {
  dataset: string;
  source: string;
  classes: string[];
  train: LabeledImages;
  heldOut: LabeledImages;
}

export const LABELED_DATASETS = ['fashion-mnist', 'emoji'] as const;
export type LabeledDataset = (typeof LABELED_DATASETS)[number];

export function isLabeledDataset(name: string): name is LabeledDataset {
  return (LABELED_DATASETS as readonly string[]).includes(name);
}

/** Share of the emoji held out, chosen per base emoji (a hash of its file name), so the split never depends on file order. */
const EMOJI_HELD_OUT = 0.3;
/** emoji.json is at the package root; the PNGs are in img/<vendor>/<size>. */
const EMOJI_JSON_MAX_BYTES = 64 * 2 ** 20;

/** The images of `from` at the given indices, with their labels. */
export function pick(from: LabeledImages, indices: ArrayLike<number>): LabeledImages {
  const per = from.size * from.size * 3;
  const pixels = new Uint8Array(indices.length * per);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    pixels.set(from.pixels.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = from.labels[j];
  }
  return { count: indices.length, size: from.size, pixels, labels };
}

/**
 * Category of every emoji image file name, and the base emoji it belongs to: skin-tone variants share their base's
 * category, and the split keeps them on their base's side (a variant held out while its base trains would be a
 * near-copy of a training image).
 */
export function emojiCategories(emojiJson: string): Map<string, { category: string; base: string }> {
  const size = statSync(emojiJson).size;
  if (size > EMOJI_JSON_MAX_BYTES) throw new DatasetError(`${emojiJson}: ${size} bytes, more than the ${EMOJI_JSON_MAX_BYTES} an emoji list needs`);
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(emojiJson, 'utf8'));
  } catch (e) {
    throw new DatasetError(`${emojiJson}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(list)) throw new DatasetError(`${emojiJson}: expected a list of emoji`);
  const byImage = new Map<string, { category: string; base: string }>();
  for (const e of list as { image?: unknown; category?: unknown; skin_variations?: Record<string, { image?: unknown }> }[]) {
    if (typeof e?.image !== 'string' || typeof e.category !== 'string') continue;
    const entry = { category: e.category, base: e.image };
    byImage.set(e.image, entry);
    for (const v of Object.values(e.skin_variations ?? {})) if (typeof v?.image === 'string') byImage.set(v.image, entry);
  }
  if (byImage.size === 0) throw new DatasetError(`${emojiJson}: no entries with 'image' and 'category'`);
  return byImage;
}

/** emoji.json of the package that holds a PNG folder: the folder itself or up to three levels above it. */
function findEmojiJson(pngDir: string, root: string): string {
  const tried = [root, pngDir, dirname(pngDir), dirname(dirname(pngDir)), dirname(dirname(dirname(pngDir)))].map((d) => join(resolve(d), 'emoji.json'));
  const found = tried.find((p) => existsSync(p));
  if (!found) throw new DatasetError(`${pngDir}: no emoji.json beside it or in the emoji-datasource package above it (needed for the categories)`);
  return found;
}

async function loadEmojiSplits(size: number, dataDir: string | undefined, onProgress?: LoadProgress): Promise<LabeledSplits> {
  const root = dataDir ?? resolveEmojiPackage();
  const ds = await loadEmoji(size, root, { onProgress, onWarning: () => {} });
  const pngDir = findEmojiPngDir(root as string);
  const categories = emojiCategories(findEmojiJson(pngDir, root as string));
  const classes = [...new Set([...categories.values()].map((e) => e.category))].sort();
  const labels = new Uint8Array(ds.count);
  const train: number[] = [];
  const held: number[] = [];
  ds.files.forEach((f, i) => {
    const entry = categories.get(basename(f));
    if (entry === undefined) return; // not in the list (a file the package did not ship): unlabelled, left out
    labels[i] = classes.indexOf(entry.category);
    ((hashString(entry.base) % 1000) / 1000 < EMOJI_HELD_OUT ? held : train).push(i);
  });
  if (train.length < 2 || held.length < 2) throw new DatasetError(`${pngDir}: only ${train.length + held.length} images have a category in emoji.json`);
  const all: LabeledImages = { count: ds.count, size, pixels: ds.pixels, labels };
  return { dataset: 'emoji', source: pngDir, classes, train: pick(all, train), heldOut: pick(all, held) };
}

async function loadFashionSplits(size: number, dataDir = FASHION_MNIST_DIR, onProgress?: LoadProgress): Promise<LabeledSplits> {
  const split = async (name: 'train' | 't10k'): Promise<LabeledImages> => {
    const ds = await loadFashionMnist(size, dataDir, onProgress, name);
    const labels = await loadFashionMnistLabels(dataDir, name);
    if (labels.length !== ds.count) throw new DatasetError(`${dataDir}: ${name} has ${ds.count} images but ${labels.length} labels`);
    return { count: ds.count, size, pixels: ds.pixels, labels };
  };
  return { dataset: 'fashion-mnist', source: dataDir, classes: [...FASHION_MNIST_CLASSES], train: await split('train'), heldOut: await split('t10k') };
}

export async function loadLabeledSplits(dataset: string, size: number, dataDir?: string, onProgress?: LoadProgress): Promise<LabeledSplits> {
  if (dataset === 'fashion-mnist') return loadFashionSplits(size, dataDir, onProgress);
  if (dataset === 'emoji') return loadEmojiSplits(size, dataDir, onProgress);
  throw new DatasetError(`--dataset ${dataset}: no labelled split for it; the quality metric knows ${LABELED_DATASETS.join(', ')}`);
}
