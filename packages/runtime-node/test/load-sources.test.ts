// What a Node app relies on beyond a file path: loading from an http(s) URL with download progress and clear errors
// (the same options and ModelDownloadError as runtime-web), from bytes, and from a file: URL, all giving the same
// images; and saving what it generates: image.toPng() and image.save(path), and liquidflow-generate from a URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { encodePng as encodeStored, imageGrid } from '@liquidflow/core';
import { type GeneratedImage, LiquidFlow, ModelDownloadError, ModelFileError, type ProgressEvent } from '@liquidflow/runtime-node';
import { goodModel } from './bad-models.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const cli = join(root, 'packages/runtime-node/dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'lf-node-sources-'));
const RUN = { count: 2, steps: 3, seed: 11, sampler: 'heun' as const };
let model: Uint8Array;
let modelPath = '';
let server: Server;
let base = '';
/** The images from the model loaded by path: every other source must give these bytes. */
let want: GeneratedImage[] = [];

beforeAll(async () => {
  model = goodModel();
  modelPath = join(dir, 'small.onnx');
  writeFileSync(modelPath, model);
  server = createServer((req, res) => {
    if (req.url === '/models/small.onnx') {
      res.writeHead(200, { 'content-length': model.length });
      res.end(model);
    } else if (req.url === '/models/slow.onnx') {
      // Four pieces 80 ms apart: progress events arrive while the body does.
      res.writeHead(200, { 'content-length': model.length });
      const piece = Math.ceil(model.length / 4);
      let i = 0;
      const next = () => {
        res.write(model.subarray(i * piece, (i + 1) * piece));
        if (++i < 4) setTimeout(next, 80);
        else res.end();
      };
      next();
    } else {
      res.writeHead(404, 'Not Found', { 'content-length': 0 });
      res.end();
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const lf = await LiquidFlow.load(modelPath, { device: 'cpu' });
  want = await lf.generate(RUN);
  await lf.dispose();
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((ok) => server?.close(ok));
  rmSync(dir, { recursive: true, force: true });
});

async function imagesFrom(source: Parameters<typeof LiquidFlow.load>[0], events?: ProgressEvent[]) {
  const lf = await LiquidFlow.load(source, { device: 'cpu', progress_callback: events && ((e) => events.push(e)) });
  try {
    return { lf, images: await lf.generate(RUN) };
  } finally {
    await lf.dispose();
  }
}

const sameImages = (a: GeneratedImage[], b: GeneratedImage[]) =>
  a.length === b.length && a.every((img, n) => Buffer.from(img.data).equals(Buffer.from(b[n].data)));

describe('LiquidFlow.load sources', () => {
  it('an http URL downloads with transformers.js-style progress events and gives the same images as the path', async () => {
    const url = `${base}/models/slow.onnx`;
    const events: ProgressEvent[] = [];
    const { lf, images } = await imagesFrom(url, events);
    expect(sameImages(images, want)).toBe(true);
    expect([lf.path, lf.source, lf.config.img_size]).toEqual([url, 'network', 16]);
    expect(events[0]).toEqual({ status: 'initiate', name: url, file: 'slow.onnx' });
    expect(events[1]).toEqual({ status: 'download', name: url, file: 'slow.onnx' });
    const progress = events.filter((e) => e.status === 'progress');
    expect(progress.length, 'progress while the body arrives').toBeGreaterThanOrEqual(2);
    const loaded = progress.map((e) => e.loaded);
    expect(loaded).toEqual([...loaded].sort((x, y) => x - y));
    expect(progress.at(-1)).toMatchObject({ loaded: model.length, total: model.length, progress: 100, cached: false });
    expect(events.at(-2)).toEqual({ status: 'done', name: url, file: 'slow.onnx', cached: false });
    expect(events.at(-1)).toMatchObject({ status: 'ready', name: url, file: 'slow.onnx', device: 'cpu', reason: 'requested' });
  });

  it('a URL object works too, and the size limits of runtime-web apply', async () => {
    const url = new URL(`${base}/models/small.onnx`);
    expect(sameImages((await imagesFrom(url)).images, want)).toBe(true);
    const e = await LiquidFlow.load(url.href, { device: 'cpu', maxBytes: 1000 }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    expect(e).toMatchObject({ reason: 'too-large', url: url.href });
    expect((e as Error).message).toBe(`${url.href}: download too large: Content-Length says ${model.length} bytes, above the limit of 1000 bytes (option maxBytes)`);
  });

  it('a 404 fails with a ModelDownloadError naming the URL and the status', async () => {
    const url = `${base}/models/missing.onnx`;
    const e = await LiquidFlow.load(url, { device: 'cpu' }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    expect(e).toMatchObject({ reason: 'http', url });
    expect((e as Error).message).toBe(`${url}: download failed (HTTP 404 Not Found)`);
  });

  it('bytes (Uint8Array, Buffer, ArrayBuffer, a view into a larger buffer, Blob) give the same images, and the caller keeps them', async () => {
    const copy = new Uint8Array(model);
    const { lf, images } = await imagesFrom(copy);
    expect(sameImages(images, want)).toBe(true);
    expect([lf.path, lf.source]).toEqual(['model bytes', 'bytes']);
    expect(copy.byteLength, "the caller's bytes are not detached").toBe(model.length);
    expect(Buffer.from(copy).equals(Buffer.from(model))).toBe(true);
    const buffer = readFileSync(modelPath); // a Buffer, whose slice() is a view, not a copy
    expect(sameImages((await imagesFrom(buffer)).images, want)).toBe(true);
    expect(buffer.length, "the caller's Buffer is not detached").toBe(model.length);
    expect(sameImages((await imagesFrom(new Uint8Array(model).buffer)).images, want)).toBe(true);
    const padded = new Uint8Array(model.length + 100);
    padded.set(model, 50);
    expect(sameImages((await imagesFrom(padded.subarray(50, 50 + model.length))).images, want)).toBe(true);
    expect(sameImages((await imagesFrom(new Blob([new Uint8Array(model)]))).images, want)).toBe(true);
  });

  it('a file: URL is a path; progress for a file is initiate, progress, done, ready', async () => {
    const events: ProgressEvent[] = [];
    const { lf, images } = await imagesFrom(pathToFileURL(modelPath), events);
    expect(sameImages(images, want)).toBe(true);
    expect([lf.path, lf.source]).toEqual([modelPath, 'file']);
    expect(events.map((e) => e.status)).toEqual(['initiate', 'progress', 'done', 'ready']);
    expect(events[1]).toMatchObject({ loaded: model.length, total: model.length, progress: 100 });
  });

  it('bad sources fail naming the source and the problem, before reading a file over the size limit', async () => {
    await expect(LiquidFlow.load('ftp://example.com/m.onnx')).rejects.toThrow("ftp://example.com/m.onnx: cannot load a model from a ftp: URL (expected a file path, or an http, https or file URL)");
    await expect(LiquidFlow.load(42 as never)).rejects.toThrow(/LiquidFlow\.load: expected a file path, a URL or the model's bytes/);
    const big = await LiquidFlow.load(modelPath, { maxBytes: 1000 }).catch((x: Error) => x);
    expect(big).toBeInstanceOf(ModelFileError);
    expect((big as Error).message).toBe(`${modelPath}: model file is ${model.length} bytes, above the limit of 1000 bytes (option maxBytes)`);
    await expect(LiquidFlow.load(modelPath, { expectedBytes: model.length + 1 })).rejects.toThrow(`${modelPath}: model file is ${model.length} bytes, not the expected ${model.length + 1} (option expectedBytes)`);
    await expect(LiquidFlow.load(modelPath, { maxBytes: 0 })).rejects.toThrow(`${modelPath}: option maxBytes must be a positive number, got 0`);
    await expect(LiquidFlow.load(new Uint8Array(10))).rejects.toThrow(/^model bytes: /);
  });
});

describe('saving generated images', () => {
  it('toPng() is a compressed PNG of exactly the image', () => {
    for (const img of want) {
      const png = img.toPng();
      const decoded = PNG.sync.read(Buffer.from(png));
      expect([decoded.width, decoded.height]).toEqual([img.width, img.height]);
      expect(Buffer.from(decoded.data).equals(Buffer.from(img.data))).toBe(true);
      expect(png.length).toBeLessThan(encodeStored(img.width, img.height, img.data).length);
    }
  });

  it('save(path) writes that PNG atomically; another extension or a missing folder fails naming the path', async () => {
    const path = join(dir, 'saved', 'img.png');
    const savedDir = join(dir, 'saved');
    await expect(want[0].save(path)).rejects.toThrow(`cannot write ${path}: ENOENT`);
    await import('node:fs/promises').then((fs) => fs.mkdir(savedDir));
    await want[0].save(path);
    expect(readFileSync(path).equals(Buffer.from(want[0].toPng()))).toBe(true);
    await want[1].save(path); // replaces it
    expect(Buffer.from(PNG.sync.read(readFileSync(path)).data).equals(Buffer.from(want[1].data))).toBe(true);
    await expect(want[0].save(join(savedDir, 'img.jpg'))).rejects.toThrow(`${join(savedDir, 'img.jpg')}: save() writes PNG files; name the file .png (got .jpg)`);
    expect(readdirSync(savedDir)).toEqual(['img.png']);
  });
});

describe('liquidflow-generate from a URL', () => {
  // Not spawnSync: the server answering the CLI runs on this process's event loop.
  const run = (args: string[]) =>
    new Promise<{ status: number | null; stderr: string }>((ok) => {
      const child = spawn(process.execPath, [cli, ...args], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status) => ok({ status, stderr }));
    });

  it('downloads the model and writes compressed PNGs of the same images as the library', async () => {
    const r = await run([`${base}/models/slow.onnx`, '--count', '2', '--steps', '3', '--sampler', 'heun', '--seed', '11', '--out', 'url-grid.png', '--out-dir', 'url-imgs', '--device', 'cpu']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\d+\/\d+ kB downloaded/);
    const grid = imageGrid(want);
    const png = readFileSync(join(dir, 'url-grid.png'));
    expect(Buffer.from(PNG.sync.read(png).data).equals(Buffer.from(grid.data))).toBe(true);
    expect(png.length).toBeLessThan(encodeStored(grid.width, grid.height, grid.data).length);
    want.forEach((img, i) => {
      const one = PNG.sync.read(readFileSync(join(dir, 'url-imgs', `00${i}.png`)));
      expect(Buffer.from(one.data).equals(Buffer.from(img.data))).toBe(true);
    });
  });

  it('a 404 exits 1 with the URL and the status', async () => {
    const r = await run([`${base}/models/missing.onnx`, '--out', 'never.png']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`liquidflow-generate: ${base}/models/missing.onnx: download failed (HTTP 404 Not Found)`);
  });
});
