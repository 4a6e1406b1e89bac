// Fashion-MNIST from its gzipped IDX files (Debian's dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist).
// 28x28 grayscale; resized to the training size and replicated to RGB. Clothing is dark on light, like the emoji set.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { centerCropResize, checkDecodedSize, DatasetError, type ImageDataset, type LoadProgress } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export type FashionMnistSplit = 'train' | 't10k';
/** The 10 classes, in label order (Zalando's names). */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const fileNames = (split: FashionMnistSplit, kind: 'images-idx3' | 'labels-idx1') => [`${split}-${kind}-ubyte.gz`, `${split}-${kind}-ubyte`];

/** Parses an IDX file of uint8 images: magic 0x00000803, then count, rows, cols (big-endian), then the pixels. */
export function parseIdxImages(bytes: Uint8Array, where: string): { count: number; rows: number; cols: number; pixels: Uint8Array } {
  if (bytes.length < 16) throw new DatasetError(`${where}: too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== 0x803) throw new DatasetError(`${where}: not an IDX uint8 image file (magic 0x${magic.toString(16)}, expected 0x803)`);
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  // A header is only a claim: 0x0 images would train on blanks, and a count the file cannot hold must fail here,
  // before the decoder allocates count * size^2 * 3 bytes for it.
  if (rows === 0 || cols === 0) throw new DatasetError(`${where}: header describes images of ${rows}x${cols} pixels; expected at least 1x1`);
  if (count === 0) throw new DatasetError(`${where}: header describes 0 images`);
  const need = 16 + count * rows * cols;
  if (bytes.length < need) {
    const room = Math.floor((bytes.length - 16) / (rows * cols));
    throw new DatasetError(`${where}: truncated: ${bytes.length} bytes, header describes ${need} (${count} images of ${rows}x${cols}; the file holds ${room})`);
  }
  return { count, rows, cols, pixels: bytes.subarray(16, need) };
}

/** Parses an IDX file of uint8 labels: magic 0x00000801, then count (big-endian), then one byte per label. */
export function parseIdxLabels(bytes: Uint8Array, where: string, classes: number): Uint8Array {
  if (bytes.length < 8) throw new DatasetError(`${where}: too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== 0x801) throw new DatasetError(`${where}: not an IDX uint8 label file (magic 0x${magic.toString(16)}, expected 0x801)`);
  const count = view.getUint32(4);
  if (bytes.length < 8 + count) throw new DatasetError(`${where}: truncated: ${bytes.length} bytes, header describes ${count} labels`);
  const labels = bytes.subarray(8, 8 + count);
  const bad = labels.findIndex((l) => l >= classes);
  if (bad >= 0) throw new DatasetError(`${where}: label ${labels[bad]} at index ${bad} is not one of the ${classes} classes`);
  return labels;
}

/** Decompressed IDX limit: ten times Fashion-MNIST's 47 MB; a gzip bomb stops here instead of filling memory. */
export const MAX_IDX_BYTES = 2 ** 29;

/** The bytes of one IDX file of a split, gunzipped when it is the .gz. */
async function readIdxFile(dir: string, split: FashionMnistSplit, kind: 'images-idx3' | 'labels-idx1'): Promise<{ file: string; bytes: Uint8Array }> {
  const names = fileNames(split, kind);
  const file = names.map((f) => join(dir, f)).find(existsSync);
  if (!file) {
    throw new DatasetError(`${join(dir, names[0])}: missing; install it with 'apt-get install dataset-fashion-mnist' or pass --data_dir`);
  }
  let bytes = new Uint8Array(await readFile(file));
  if (file.endsWith('.gz')) {
    try {
      bytes = new Uint8Array(gunzipSync(bytes, { maxOutputLength: MAX_IDX_BYTES }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new DatasetError(`${file}: decompresses to more than the limit of ${MAX_IDX_BYTES} bytes`);
      throw new DatasetError(`${file}: not a valid gzip file (${(e as Error).message})`);
    }
  }
  return { file, bytes };
}

/** The labels of a split (0..9, FASHION_MNIST_CLASSES), one per image of the same split. */
export async function loadFashionMnistLabels(dir = FASHION_MNIST_DIR, split: FashionMnistSplit = 'train'): Promise<Uint8Array> {
  const { file, bytes } = await readIdxFile(dir, split, 'labels-idx1');
  return parseIdxLabels(bytes, file, FASHION_MNIST_CLASSES.length);
}

export async function loadFashionMnist(size: number, dir = FASHION_MNIST_DIR, onProgress?: LoadProgress, split: FashionMnistSplit = 'train'): Promise<ImageDataset> {
  const { file, bytes } = await readIdxFile(dir, split, 'images-idx3');
  const idx = parseIdxImages(bytes, file);
  checkDecodedSize(idx.count, size, file);
  const pixels = new Uint8Array(idx.count * size * size * 3);
  const rgb = new Uint8Array(idx.rows * idx.cols * 3);
  for (let i = 0; i < idx.count; i++) {
    const img = idx.pixels.subarray(i * idx.rows * idx.cols, (i + 1) * idx.rows * idx.cols);
    // Invert: white background, dark garments (as photographs and the emoji set look).
    for (let p = 0; p < img.length; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = 255 - img[p];
    pixels.set(centerCropResize(rgb, idx.rows, idx.cols, size), i * size * size * 3);
    if (onProgress && (i % 5000 === 0 || i === idx.count - 1)) onProgress(i + 1, idx.count, 'images');
  }
  return { name: 'fashion-mnist', source: file, size, count: idx.count, pixels };
}
