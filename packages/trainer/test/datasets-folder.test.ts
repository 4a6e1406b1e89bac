// The image-folder loaders (folder, flowers, emoji) on fixture folders this test writes: PNGs made with pngjs (RGB,
// RGBA, grayscale), a palette PNG built chunk by chunk, JPEGs made with jpeg-js, a subfolder, files to ignore and a
// corrupt PNG that is skipped with a warning naming it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import {
  DATASETS,
  DatasetError,
  decodeImage,
  findEmojiPngDir,
  loadDataset,
  loadEmoji,
  loadFlowers,
  loadImageFolder,
  resolveEmojiPackage,
} from '../src/datasets/index.js';

type RGBA = [number, number, number, number];

function png(w: number, h: number, at: (x: number, y: number) => RGBA, colorType: 0 | 2 | 4 | 6 = 6): Buffer {
  const p = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) p.data.set(at(x, y), (y * w + x) * 4);
  return PNG.sync.write(p, { colorType });
}

function jpg(w: number, h: number, at: (x: number, y: number) => RGBA, quality = 95): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(at(x, y), (y * w + x) * 4);
  return jpeg.encode({ width: w, height: h, data }, quality).data;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** An 8-bit palette PNG (colour type 3), which pngjs cannot write: left half palette[0], right half palette[1]. */
function palettePng(w: number, h: number, palette: [number, number, number][]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w + 1) + 1 + x] = x < w / 2 ? 0 : 1;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', Buffer.from(palette.flat())),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** JPEG with an EXIF APP1 segment (big-endian TIFF, IFD0 with just Orientation) inserted after SOI. */
function withOrientation(j: Buffer, orientation: number): Buffer {
  const tiff = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([j.subarray(0, 2), head, body, j.subarray(2)]);
}

const px = (pixels: Uint8Array, size: number, i: number, x: number, y: number) => Array.from(pixels.subarray((i * size * size + y * size + x) * 3, (i * size * size + y * size + x) * 3 + 3));
const near = (got: number[], want: number[], tol: number) => got.every((v, c) => Math.abs(v - want[c]) <= tol);

let root: string;
let dir: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lf-datasets-folder-'));
  dir = join(root, 'images');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'a-red.png'), png(8, 8, () => [255, 0, 0, 255], 2));
  // Left half fully transparent (black underneath), right half opaque blue.
  writeFileSync(join(dir, 'b-alpha.png'), png(8, 8, (x) => (x < 4 ? [0, 0, 0, 0] : [0, 0, 255, 255]), 6));
  writeFileSync(join(dir, 'c-gray.PNG'), png(8, 8, () => [128, 128, 128, 255], 0));
  writeFileSync(join(dir, 'd-palette.png'), palettePng(8, 8, [[10, 200, 30], [250, 250, 0]]));
  writeFileSync(join(dir, 'e-corrupt.png'), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) & 255)));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  writeFileSync(join(dir, 'anim.gif'), 'GIF89a');
  writeFileSync(join(dir, '.hidden.png'), 'junk');
  // 16x8 green: center-cropped to 8x8.
  writeFileSync(join(dir, 'sub', 'photo.jpg'), jpg(16, 8, () => [0, 200, 0, 255]));
  writeFileSync(join(dir, 'sub', 'deeper', 'z.jpeg'), jpg(8, 8, () => [255, 255, 255, 255]));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('folder', () => {
  it('decodes PNG (RGB, alpha on white, gray, palette) and JPEG recursively, skipping a corrupt file with a warning', async () => {
    const warnings: string[] = [];
    const progress: [number, number][] = [];
    const ds = await loadImageFolder(dir, 4, { onWarning: (m) => warnings.push(m), onProgress: (d, t) => progress.push([d, t]) });
    expect(ds.name).toBe('folder');
    expect(ds.files).toEqual(['a-red.png', 'b-alpha.png', 'c-gray.PNG', 'd-palette.png', 'sub/deeper/z.jpeg', 'sub/photo.jpg']);
    expect(ds.count).toBe(6);
    expect(ds.pixels.length).toBe(6 * 4 * 4 * 3);
    expect(ds.workers).toBe(0);
    expect(progress.at(-1)).toEqual([7, 7]);
    // The corrupt file: skipped, named; the gif reported once; the text file and the hidden file silently ignored.
    expect(warnings.some((w) => w.includes(join(dir, 'e-corrupt.png')) && w.includes('skipped'))).toBe(true);
    expect(warnings.some((w) => w.includes('1 .gif'))).toBe(true);
    expect(warnings.length).toBe(2);
    expect(ds.warnings).toEqual(warnings);

    expect(px(ds.pixels, 4, 0, 2, 2)).toEqual([255, 0, 0]);
    expect(px(ds.pixels, 4, 1, 0, 1)).toEqual([255, 255, 255]); // alpha 0 -> white
    expect(px(ds.pixels, 4, 1, 1, 3)).toEqual([255, 255, 255]);
    expect(px(ds.pixels, 4, 1, 3, 0)).toEqual([0, 0, 255]);
    expect(px(ds.pixels, 4, 2, 1, 1)).toEqual([128, 128, 128]);
    expect(px(ds.pixels, 4, 3, 0, 0)).toEqual([10, 200, 30]);
    expect(px(ds.pixels, 4, 3, 3, 3)).toEqual([250, 250, 0]);
    expect(near(px(ds.pixels, 4, 4, 1, 1), [255, 255, 255], 3)).toBe(true);
    expect(near(px(ds.pixels, 4, 5, 2, 1), [0, 200, 0], 12)).toBe(true);
  });

  it('gives the same pixels with decode worker threads', async () => {
    const a = await loadImageFolder(dir, 4, { onWarning: () => {} });
    const warnings: string[] = [];
    const b = await loadImageFolder(dir, 4, { workers: 2, onWarning: (m) => warnings.push(m) });
    expect(b.workers).toBe(2);
    expect(b.files).toEqual(a.files);
    expect(Buffer.from(b.pixels).equals(Buffer.from(a.pixels))).toBe(true);
    expect(warnings.some((w) => w.includes('e-corrupt.png'))).toBe(true);
  });

  it('upscales small images and stays non-recursive when told', async () => {
    const ds = await loadImageFolder(dir, 16, { recursive: false, onWarning: () => {} });
    expect(ds.count).toBe(4);
    expect(px(ds.pixels, 16, 0, 15, 15)).toEqual([255, 0, 0]);
  });

  it('applies the EXIF orientation of a JPEG', () => {
    // 16x8: left half red, right half blue; orientation 6 = rotate 90 degrees clockwise: 8x16, red on top.
    const j = jpg(16, 8, (x) => (x < 8 ? [255, 0, 0, 255] : [0, 0, 255, 255]));
    const plain = decodeImage(j);
    expect([plain.width, plain.height]).toEqual([16, 8]);
    const img = decodeImage(withOrientation(j, 6));
    expect([img.width, img.height]).toEqual([8, 16]);
    const at = (x: number, y: number) => Array.from(img.rgb.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3));
    expect(near(at(4, 2), [255, 0, 0], 40)).toBe(true);
    expect(near(at(4, 13), [0, 0, 255], 40)).toBe(true);
    const ccw = decodeImage(withOrientation(j, 8));
    expect(near(Array.from(ccw.rgb.subarray((2 * 8 + 4) * 3, (2 * 8 + 4) * 3 + 3)), [0, 0, 255], 40)).toBe(true);
  });

  it('errors on a missing folder, a folder without images and one where nothing decodes', async () => {
    await expect(loadImageFolder(join(root, 'nope'), 8)).rejects.toThrow(/nope: no such folder/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.txt'), 'x');
    await expect(loadImageFolder(empty, 8)).rejects.toThrow(DatasetError);
    await expect(loadImageFolder(empty, 8)).rejects.toThrow(/empty: no PNG or JPEG images found/);
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.jpg'), 'definitely not a jpeg');
    await expect(loadImageFolder(bad, 8, { onWarning: () => {} })).rejects.toThrow(/none of the 1 image files could be decoded.*x\.jpg/);
  });

  it('is registered, and needs --data_dir', async () => {
    for (const k of ['fashion-mnist', 'cifar10', 'folder', 'flowers', 'emoji']) expect(DATASETS[k]?.help.length).toBeGreaterThan(10);
    await expect(loadDataset({ name: 'folder', size: 8 })).rejects.toThrow(/--data_dir/);
    const ds = await loadDataset({ name: 'folder', size: 4, dataDir: dir, onWarning: () => {} });
    expect(ds.count).toBe(6);
  });
});

describe('flowers', () => {
  it('loads the jpg folder, given it or its parent', async () => {
    const jpgDir = join(root, 'flowers102', 'jpg');
    mkdirSync(jpgDir, { recursive: true });
    writeFileSync(join(root, 'flowers102', 'imagelabels.mat'), 'MATLAB 5.0');
    for (let i = 1; i <= 3; i++) writeFileSync(join(jpgDir, `image_0000${i}.jpg`), jpg(20, 12, () => [200, 40 * i, 0, 255]));
    for (const d of [join(root, 'flowers102'), jpgDir]) {
      const ds = await loadFlowers(8, d);
      expect(ds.name).toBe('flowers');
      expect(ds.source).toBe(jpgDir);
      expect(ds.files).toEqual(['image_00001.jpg', 'image_00002.jpg', 'image_00003.jpg']);
      expect(near(px(ds.pixels, 8, 2, 4, 4), [200, 120, 0], 12)).toBe(true);
    }
    expect((await loadDataset({ name: 'flowers', size: 8, dataDir: jpgDir })).count).toBe(3);
    await expect(loadDataset({ name: 'flowers', size: 8 })).rejects.toThrow(/--data_dir/);
  });
});

describe('emoji', () => {
  it('finds the 64px PNGs of an emoji-datasource package, alpha composited on white', async () => {
    const pkg = join(root, 'proj', 'node_modules', 'emoji-datasource-google');
    const png64 = join(pkg, 'img', 'google', '64');
    mkdirSync(png64, { recursive: true });
    mkdirSync(join(pkg, 'img', 'google', '32'));
    mkdirSync(join(pkg, 'img', 'google', 'sheets-256'));
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'emoji-datasource-google', version: '16.0.0', main: 'emoji.json' }));
    writeFileSync(join(pkg, 'emoji.json'), '[]');
    // A yellow disc on a transparent background.
    const disc = (r: number) => png(64, 64, (x, y) => ((x - 31.5) ** 2 + (y - 31.5) ** 2 < r * r ? [255, 204, 0, 255] : [0, 0, 0, 0]));
    writeFileSync(join(png64, '1f600.png'), disc(28));
    writeFileSync(join(png64, '1f601.png'), disc(20));
    writeFileSync(join(pkg, 'img', 'google', '32', '1f600.png'), png(32, 32, () => [0, 0, 0, 255]));
    writeFileSync(join(pkg, 'img', 'google', 'sheets-256', '64.png'), png(16, 16, () => [0, 0, 0, 255]));

    expect(findEmojiPngDir(pkg)).toBe(png64);
    expect(findEmojiPngDir(join(pkg, 'img'))).toBe(png64);
    expect(findEmojiPngDir(join(pkg, 'img', 'google'))).toBe(png64);
    expect(findEmojiPngDir(png64)).toBe(png64);
    expect(resolveEmojiPackage([join(root, 'proj', 'index.js')])).toBe(pkg);
    expect(resolveEmojiPackage([join(root, 'index.js')])).toBeUndefined();

    for (const d of [pkg, png64]) {
      const ds = await loadEmoji(16, d);
      expect(ds.name).toBe('emoji');
      expect(ds.files).toEqual(['1f600.png', '1f601.png']);
      expect(px(ds.pixels, 16, 0, 0, 0)).toEqual([255, 255, 255]);
      expect(px(ds.pixels, 16, 0, 8, 8)).toEqual([255, 204, 0]);
    }
    const found = await loadEmoji(16, undefined, { searchFrom: [join(root, 'proj', 'index.js')] });
    expect(found.source).toBe(png64);
    await expect(loadEmoji(16, undefined, { searchFrom: [join(root, 'index.js')] })).rejects.toThrow(/npm i emoji-datasource-google/);
  });
});
