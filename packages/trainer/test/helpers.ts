// Shared by the training tests: a tiny Fashion-MNIST fixture in the real on-disk format (gzipped IDX, magic 0x803,
// big-endian count/rows/cols, then uint8 pixels) and small helpers around checkpoints and PNGs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TRAIN_DEFAULTS, type TrainOptions, train } from '@liquidflow/trainer';

/** `count` 28x28 images of simple shapes (filled rectangles, discs, stripes), deterministic in `count`. */
export function syntheticImages(count: number, rows = 28, cols = 28): Uint8Array {
  const px = new Uint8Array(count * rows * cols);
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const a = 4 + (i % 7);
    const b = 10 + ((i * 5) % 11);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        let v = 0;
        if (kind === 0) v = x >= a && x < a + b && y >= a + 2 && y < rows - a ? 230 : 0; // rectangle
        else if (kind === 1) v = (x - 14) ** 2 + (y - 14) ** 2 < (a + 3) ** 2 ? 200 : 10; // disc
        else v = Math.floor((x + y * (i % 2 ? 1 : 0)) / 3) % 2 ? 180 : 20; // stripes
        px[i * rows * cols + y * cols + x] = v;
      }
    }
  }
  return px;
}

/** An IDX3 uint8 image file (not yet gzipped). */
export function idxImages(pixels: Uint8Array, count: number, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(16 + pixels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x00000803);
  view.setUint32(4, count);
  view.setUint32(8, rows);
  view.setUint32(12, cols);
  out.set(pixels, 16);
  return out;
}

/** An IDX1 uint8 label file (not yet gzipped). */
export function idxLabels(labels: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + labels.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x00000801);
  view.setUint32(4, labels.length);
  out.set(labels, 8);
  return out;
}

/**
 * Both splits with labels, as Debian installs them: train and t10k images and labels. Image i is shape i % 3, labelled
 * i % 3 (three of the ten classes), so a classifier can learn them.
 */
export async function writeLabeledFashionFixture(dir: string, train = 240, test = 90): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [split, count] of [['train', train], ['t10k', test]] as const) {
    await writeFile(join(dir, `${split}-images-idx3-ubyte.gz`), gzipSync(idxImages(syntheticImages(count), count, 28, 28)));
    await writeFile(join(dir, `${split}-labels-idx1-ubyte.gz`), gzipSync(idxLabels(Uint8Array.from({ length: count }, (_, i) => i % 3))));
  }
  return dir;
}

/** Writes dir/train-images-idx3-ubyte.gz holding `count` synthetic 28x28 images; returns dir. */
export async function writeFashionMnistFixture(dir: string, count = 64): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(syntheticImages(count), count, 28, 28)));
  return dir;
}

/** Small, fast training options (tiny at 16 px: a 4x4 token grid). */
export function smallRun(out: string, dataDir: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...TRAIN_DEFAULTS,
    model_size: 'tiny',
    img_size: 16,
    data_dir: dataDir,
    batch_size: 4,
    warmup_steps: 2,
    physics_warmup: 2,
    lr: 1e-3,
    log_every: 1,
    sample_every: 1000,
    save_every: 1000,
    sample_count: 4,
    sample_steps: 2,
    backend: 'wasm',
    seed: 3,
    out,
    ...over,
  };
}

/** The CLI flags of smallRun (for child-process runs). */
export function smallRunFlags(out: string, dataDir: string, extra: string[] = []): string[] {
  return [
    '--model_size', 'tiny', '--img_size', '16', '--data_dir', dataDir, '--batch_size', '4', '--warmup_steps', '2',
    '--physics_warmup', '2', '--lr', '1e-3', '--log_every', '1', '--sample_count', '4', '--sample_steps', '2',
    '--backend', 'wasm', '--seed', '3', '--out', out, ...extra,
  ];
}

/** True when `bytes` starts with the PNG signature and an IHDR chunk; returns its width and height. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 33 || sig.some((b, i) => bytes[i] !== b)) return null;
  if (String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Largest |a - b| over every named array (the key sets must match). */
export function maxAbsDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  const keys = Object.keys(a).sort();
  if (keys.join() !== Object.keys(b).sort().join()) return Infinity;
  let worst = 0;
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (x.length !== y.length) return Infinity;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

/** Collects the log lines train() writes, instead of printing them. */
export function collectLog(): { lines: string[]; log: (m: string) => void } {
  const lines: string[] = [];
  return { lines, log: (m: string) => void lines.push(m) };
}

/** A timing wrapper that appends "label: N s" to `timings` (printed by the test file's afterAll). */
export function timer(timings: string[]) {
  return async <T>(label: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings.push(`${label}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  };
}

/** The error train() fails with; a success fails the test. */
export async function trainError(opts: Parameters<typeof train>[0], explicit: Set<string>): Promise<Error> {
  try {
    await train(opts, explicit, () => {});
  } catch (e) {
    return e as Error;
  }
  throw new Error('train() succeeded; expected an error');
}
