// The PNG encoder's output is a valid PNG that decodes to the exact pixels (checked with zlib and the chunk CRCs, and
// with pngjs as an independent decoder), compressed where a compressor is given or CompressionStream exists.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { deflateSync, inflateSync, crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { encodePng, encodePngCompressed } from '@liquidflow/core';

function decode(png: Uint8Array) {
  const view = Buffer.from(png);
  expect(view.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let o = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  const types: string[] = [];
  while (o < view.length) {
    const len = view.readUInt32BE(o);
    const type = view.toString('latin1', o + 4, o + 8);
    const data = view.subarray(o + 8, o + 8 + len);
    expect(view.readUInt32BE(o + 8 + len), `${type} CRC`).toBe(crc32(view.subarray(o + 4, o + 8 + len)));
    types.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]]).toEqual([8, 6]); // 8-bit RGBA
    }
    if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba, types };
}

const level9 = (raw: Uint8Array) => deflateSync(raw, { level: 9 });
const encoders: [string, (w: number, h: number, rgba: Uint8Array) => Uint8Array | Promise<Uint8Array>][] = [
  ['stored', (w, h, rgba) => encodePng(w, h, rgba)],
  ['node:zlib level 9', (w, h, rgba) => encodePng(w, h, rgba, level9)],
  ['CompressionStream', (w, h, rgba) => encodePngCompressed(w, h, rgba)],
];

/** A real sample grid: the demo model's samples (4x4 Fashion-MNIST images, 138x138). */
const grid = PNG.sync.read(readFileSync(new URL('../../../models/fashion-mnist-tiny/samples.png', import.meta.url)));

describe('encodePng', () => {
  for (const [name, encode] of encoders) {
    it(`${name}: round-trips pixels exactly, including images larger than one deflate block`, async () => {
      for (const [w, h] of [[1, 1], [3, 2], [200, 150]]) {
        const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 31 + (i >> 7)) & 255);
        const png = await encode(w, h, rgba);
        const d = decode(png);
        expect([d.width, d.height]).toEqual([w, h]);
        expect(d.types).toEqual(['IHDR', 'IDAT', 'IEND']);
        expect(Buffer.from(d.rgba).equals(Buffer.from(rgba))).toBe(true);
        const other = PNG.sync.read(Buffer.from(png));
        expect(Buffer.from(other.data).equals(Buffer.from(rgba)), 'pngjs decodes the same pixels').toBe(true);
      }
    });
  }

  it('compresses a typical sample grid to well under the stored size, with the pixels unchanged', async () => {
    const rgba = new Uint8Array(grid.data);
    const stored = encodePng(grid.width, grid.height, rgba);
    const zlib9 = encodePng(grid.width, grid.height, rgba, level9);
    const stream = await encodePngCompressed(grid.width, grid.height, rgba);
    expect(stored.length).toBeGreaterThan(grid.width * grid.height * 4);
    for (const png of [zlib9, stream]) {
      expect(png.length).toBeLessThan(stored.length * 0.6);
      expect(Buffer.from(PNG.sync.read(Buffer.from(png)).data).equals(Buffer.from(rgba))).toBe(true);
    }
  });

  it('rejects a buffer of the wrong size and sides that are not positive integers, before encoding', async () => {
    expect(() => encodePng(2, 2, new Uint8Array(15))).toThrow(/expected 16 RGBA bytes, got 15/);
    expect(() => encodePng(0, 0, new Uint8Array(0))).toThrow(/width must be an integer from 1 to 2147483647, got 0/);
    expect(() => encodePng(1.5, 2, new Uint8Array(12))).toThrow(/width must be an integer/);
    await expect(encodePngCompressed(2, -1, new Uint8Array(0))).rejects.toThrow(/height must be an integer from 1 to 2147483647, got -1/);
    let called = false;
    expect(() => encodePng(2, 2, new Uint8Array(3), () => ((called = true), new Uint8Array()))).toThrow(RangeError);
    expect(called).toBe(false);
  });
});
