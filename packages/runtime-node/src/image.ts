// A generated image that can be saved, like transformers.js's RawImage: toPng() for the bytes, save(path) for a file.
import * as fs from 'node:fs/promises';
import { writeFileAtomicWith } from '@liquidflow/core';
import { encodePng } from './png.js';

export interface GeneratedImage {
  width: number;
  height: number;
  /** RGBA bytes, row-major. */
  data: Uint8ClampedArray;
  /** RGB floats in [0, 1], row-major HWC. */
  rgb: Float32Array;
  /** The image as a compressed PNG file's bytes (lossless). */
  toPng(): Uint8Array;
  /** Writes the image to `path` as a PNG, atomically: a crash or a full disk leaves the old file or the new one. */
  save(path: string): Promise<void>;
}

export class LiquidFlowImage implements GeneratedImage {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly data: Uint8ClampedArray,
    readonly rgb: Float32Array,
  ) {}

  toPng(): Uint8Array {
    return encodePng(this.width, this.height, this.data);
  }

  async save(path: string): Promise<void> {
    // PNG is the one format written: another extension would label the file wrongly.
    const ext = /\.([^./\\]+)$/.exec(path)?.[1];
    if (ext !== undefined && ext.toLowerCase() !== 'png') throw new Error(`${path}: save() writes PNG files; name the file .png (got .${ext})`);
    await writeFileAtomicWith(fs, path, this.toPng());
  }
}
