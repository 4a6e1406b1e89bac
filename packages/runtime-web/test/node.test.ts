// @liquidflow/runtime-web's platform-independent parts, run in Node (onnxruntime-web's WASM build): the same images
// as the Node runtime, download progress events, format checks, compressed PNG output, cancellation and serialized runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { encodePng, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow as NodeLiquidFlow } from '@liquidflow/runtime-node';
import {
  LiquidFlow, ModelFileError, SamplingAbortedError, type ProgressEvent, fetchModel, imageGridData, sha256Hex, toPngBlob, toPngBytes,
} from '@liquidflow/runtime-web';
import { type StaticServer, startServer } from '../../../examples/web/serve.mjs';

const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
let bytes: Uint8Array;
let dir = '';
let server: StaticServer | undefined;
let lf: LiquidFlow | undefined;

beforeAll(async () => {
  bytes = exportBytes(freshCheckpoint(CONFIG, 0)).bytes;
  dir = mkdtempSync(join(tmpdir(), 'lf-web-node-'));
  writeFileSync(join(dir, 'tiny16.onnx'), bytes);
  server = await startServer({ mounts: { '/models/': dir } });
  lf = await LiquidFlow.load(bytes, { device: 'wasm' });
});

afterAll(async () => {
  await lf?.dispose();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('runtime-web (Node, wasm)', () => {
  it('generates the same images as the Node runtime for a seed', async () => {
    const web = lf as LiquidFlow;
    expect(web.device).toBe('wasm');
    expect(web.config.img_size).toBe(16);
    const node = await NodeLiquidFlow.load(join(dir, 'tiny16.onnx'), { device: 'cpu' });
    const want = await node.generate({ count: 2, steps: 3, seed: 5, sampler: 'heun' });
    await node.dispose();
    const got = await web.generate({ count: 2, steps: 3, seed: 5, sampler: 'heun' });
    expect(got.map((i) => [i.width, i.height])).toEqual([[16, 16], [16, 16]]);
    for (let n = 0; n < 2; n++) {
      let m = 0;
      for (let i = 0; i < want[n].data.length; i++) m = Math.max(m, Math.abs(want[n].data[i] - got[n].data[i]));
      expect(m).toBeLessThanOrEqual(1);
    }
  });

  it("'auto' says why it runs on wasm where there is no WebGPU", async () => {
    const auto = await LiquidFlow.load(bytes, { device: 'auto' });
    expect(auto.device).toBe('wasm');
    expect(auto.deviceReason).toMatch(/^WebGPU unavailable: navigator\.gpu is missing .* — running on wasm \(1 thread\)$/);
    await auto.dispose();
    await expect(LiquidFlow.load(bytes, { device: 'webgpu' })).rejects.toThrow(/device 'webgpu' is not available: navigator\.gpu is missing/);
    await expect(LiquidFlow.load(bytes, { device: 'gpu' as never })).rejects.toThrow(/unknown device 'gpu'/);
  });

  it('downloads with transformers.js-style progress events and checks the file', async () => {
    const events: ProgressEvent[] = [];
    const url = `${server?.url}/models/tiny16.onnx`;
    const got = await fetchModel(url, { progress_callback: (e) => events.push(e) });
    expect(got.from).toBe('network');
    expect(got.cacheStatus).toBe('unavailable (no Cache API here)');
    expect(await sha256Hex(got.bytes)).toBe(await sha256Hex(bytes));
    expect(events[0]).toEqual({ status: 'initiate', name: url, file: 'tiny16.onnx' });
    expect(events[1].status).toBe('download');
    const progress = events.filter((e) => e.status === 'progress');
    expect(progress.at(-1)).toMatchObject({ loaded: bytes.length, total: bytes.length, progress: 100, cached: false });
    expect(events.at(-1)).toMatchObject({ status: 'done', cached: false });
    await expect(fetchModel(`${server?.url}/models/nope.onnx`)).rejects.toThrow(/nope\.onnx: download failed \(HTTP 404/);
  });

  it('rejects bytes that are not a LiquidFlow export', async () => {
    await expect(LiquidFlow.load(new Uint8Array(0))).rejects.toThrow(/file is empty/);
    await expect(LiquidFlow.load(bytes.subarray(0, 1000))).rejects.toBeInstanceOf(ModelFileError);
    await expect(LiquidFlow.load(new TextEncoder().encode('hello, world'))).rejects.toThrow(ModelFileError);
  });

  it('cancels between steps and runs overlapping calls one after another', async () => {
    const web = lf as LiquidFlow;
    const controller = new AbortController();
    const run = web.generate({
      count: 1, steps: 50, signal: controller.signal,
      onProgress: (p) => { if (p.step === 2) controller.abort(); },
    });
    await expect(run).rejects.toBeInstanceOf(SamplingAbortedError);
    const [a, b] = await Promise.all([web.generate({ count: 1, steps: 2, seed: 1 }), web.generate({ count: 1, steps: 2, seed: 1 })]);
    expect(Array.from(a[0].data)).toEqual(Array.from(b[0].data));
  });

  it('encodes compressed PNGs that decode to the exact pixels', async () => {
    const images = await (lf as LiquidFlow).generate({ count: 4, steps: 2, seed: 3 });
    const grid = imageGridData(images);
    const png = await toPngBytes(grid);
    const decoded = PNG.sync.read(Buffer.from(png));
    expect([decoded.width, decoded.height]).toEqual([grid.width, grid.height]);
    expect(Buffer.from(decoded.data).equals(Buffer.from(grid.data))).toBe(true);
    expect(png.length).toBeLessThan(encodePng(grid.width, grid.height, grid.data).length); // the stored encoding
    const blob = await toPngBlob(images[0]);
    expect(blob.type).toBe('image/png');
    expect(Buffer.from(await blob.arrayBuffer()).equals(Buffer.from(await toPngBytes(images[0])))).toBe(true);
  });
});

describe('runtime-web with a LiquidDiffusion model (the second family)', () => {
  it('runs it unchanged: the same images as the Node runtime, and its config names the family', async () => {
    const cfg = resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 8, channels: [8, 16, 32], norm_groups: 4, time_freq_dim: 32 });
    const model = exportBytes(freshCheckpoint(cfg, 1)).bytes;
    writeFileSync(join(dir, 'diffusion8.onnx'), model);
    const web = await LiquidFlow.load(model, { device: 'wasm' });
    const node = await NodeLiquidFlow.load(join(dir, 'diffusion8.onnx'), { device: 'cpu' });
    try {
      expect([web.config.arch, web.config.variant]).toEqual(['liquiddiffusion', 'tiny']);
      const want = await node.generate({ count: 2, steps: 3, seed: 7 });
      const got = await web.generate({ count: 2, steps: 3, seed: 7 });
      expect(got.map((i) => [i.width, i.height])).toEqual([[8, 8], [8, 8]]);
      for (let n = 0; n < 2; n++) {
        let m = 0;
        for (let i = 0; i < want[n].data.length; i++) m = Math.max(m, Math.abs(want[n].data[i] - got[n].data[i]));
        expect(m).toBeLessThanOrEqual(1);
      }
    } finally {
      await web.dispose();
      await node.dispose();
    }
  });
});

