// The PNG encoder's output is a valid PNG that decodes to the exact pixels (checked with zlib and the chunk CRCs).
import { describe, expect, it } from 'vitest';
import { inflateSync, crc32 } from 'node:zlib';
import { encodePng } from '@liquidflow/core';

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

describe('encodePng', () => {
  it('round-trips pixels through zlib, including images larger than one deflate block', () => {
    for (const [w, h] of [[1, 1], [3, 2], [200, 150]]) {
      const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 31 + (i >> 7)) & 255);
      const d = decode(encodePng(w, h, rgba));
      expect([d.width, d.height]).toEqual([w, h]);
      expect(d.types).toEqual(['IHDR', 'IDAT', 'IEND']);
      expect(Buffer.from(d.rgba).equals(Buffer.from(rgba))).toBe(true);
    }
  });

  it('rejects a buffer of the wrong size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(15))).toThrow(/expected 16 RGBA bytes, got 15/);
  });
});
