// A dataset is decoded once into memory at the training resolution: uint8 RGB images [count, size, size, 3].
// Every batch after that is a cheap copy, built ahead of the step in a worker thread (batch-prefetch.ts), so data
// loading never starves the training step (the loop still times how long a step waits for its batch).
import { totalmem } from 'node:os';

export interface ImageDataset {
  name: string;
  /** Where the images came from (a path, or a description). */
  source: string;
  size: number;
  count: number;
  /** [count, size, size, 3] RGB bytes. */
  pixels: Uint8Array;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

/**
 * Refuses, before allocating, a dataset whose decoded pixels (count * size^2 * 3 bytes, all held in memory) would not
 * fit in this machine's memory: a header's or a folder's count times the training size can ask for terabytes.
 */
export function checkDecodedSize(count: number, size: number, where: string, memory = totalmem()): void {
  const bytes = count * size * size * 3;
  if (bytes > memory) {
    throw new DatasetError(`${where}: ${count} images at ${size}x${size} need ${bytes} bytes decoded, more than this machine's memory (${memory} bytes); use fewer images or a smaller --img_size`);
  }
}

/** Progress of a long load (decoding thousands of files), for the trainer's progress line. */
export type LoadProgress = (done: number, total: number, what: string) => void;

/** Resize a [h, w, 3] RGB image by center-crop to a square, then area-average (or bilinear when upscaling) to size. */
export function centerCropResize(src: Uint8Array, h: number, w: number, size: number): Uint8Array {
  const side = Math.min(h, w);
  const y0 = Math.floor((h - side) / 2);
  const x0 = Math.floor((w - side) / 2);
  const out = new Uint8Array(size * size * 3);
  const scale = side / size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        let n = 0;
        if (scale >= 1) {
          // Box filter over the source pixels this output pixel covers.
          const sy0 = y0 + Math.floor(y * scale);
          const sy1 = Math.max(sy0 + 1, y0 + Math.floor((y + 1) * scale));
          const sx0 = x0 + Math.floor(x * scale);
          const sx1 = Math.max(sx0 + 1, x0 + Math.floor((x + 1) * scale));
          for (let sy = sy0; sy < sy1; sy++) for (let sx = sx0; sx < sx1; sx++) (acc += src[(sy * w + sx) * 3 + c]), n++;
          out[(y * size + x) * 3 + c] = Math.round(acc / n);
        } else {
          const fy = Math.min(side - 1, Math.max(0, (y + 0.5) * scale - 0.5));
          const fx = Math.min(side - 1, Math.max(0, (x + 0.5) * scale - 0.5));
          const iy = Math.floor(fy);
          const ix = Math.floor(fx);
          const dy = fy - iy;
          const dx = fx - ix;
          const at = (yy: number, xx: number) => src[((y0 + Math.min(side - 1, yy)) * w + x0 + Math.min(side - 1, xx)) * 3 + c];
          const v = (1 - dy) * ((1 - dx) * at(iy, ix) + dx * at(iy, ix + 1)) + dy * ((1 - dx) * at(iy + 1, ix) + dx * at(iy + 1, ix + 1));
          out[(y * size + x) * 3 + c] = Math.round(v);
        }
      }
    }
  }
  return out;
}
