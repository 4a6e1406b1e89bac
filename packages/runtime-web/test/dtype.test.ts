// The `dtype` option of both runtimes (issue 12): a model published as a folder (or URL prefix) of model.onnx,
// model_fp16.onnx, model_q8.onnx, model_q4.onnx; the file picked by dtype, 'auto' and what it says, a missing dtype
// listing the ones present, a file asked for by the wrong dtype, and the choice 'auto' makes for WebGPU adapters.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ModelDtype, dtypeFileName, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { convertDtype, exportBytes } from '@liquidflow/exporter';
import { LiquidFlow as NodeLiquidFlow } from '@liquidflow/runtime-node';
import { LiquidFlow } from '@liquidflow/runtime-web';
import { chooseDtype } from '../src/devices.js';
import { type StaticServer, startServer } from '../../../examples/web/serve.mjs';

const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
let dir = '';
let full = '';
let partial = '';
let server: StaticServer | undefined;
let base = '';

beforeAll(async () => {
  const fp32 = exportBytes(freshCheckpoint(CONFIG, 0)).bytes;
  dir = mkdtempSync(join(tmpdir(), 'lf-dtype-'));
  full = join(dir, 'full');
  partial = join(dir, 'partial');
  mkdirSync(full);
  mkdirSync(partial);
  for (const d of ['fp32', 'fp16', 'q8', 'q4'] as ModelDtype[]) writeFileSync(join(full, dtypeFileName(d)), d === 'fp32' ? fp32 : convertDtype(fp32, d).bytes);
  // A folder published without fp32 and q4.
  for (const d of ['fp16', 'q8'] as ModelDtype[]) writeFileSync(join(partial, dtypeFileName(d)), convertDtype(fp32, d).bytes);
  server = await startServer({ mounts: { '/m/': dir } });
  base = server.url.replace(/\/$/, '');
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => vi.unstubAllGlobals());

describe('runtime-node dtype', () => {
  it('a folder gives the file of the dtype asked for; auto is fp32 and says why', async () => {
    for (const d of ['fp32', 'fp16', 'q8', 'q4'] as ModelDtype[]) {
      const lf = await NodeLiquidFlow.load(full, { device: 'cpu', dtype: d });
      expect([lf.dtype, lf.dtypeReason, lf.path]).toEqual([d, 'requested', join(full, dtypeFileName(d))]);
      expect((await lf.generate({ count: 1, steps: 2 }))[0].width).toBe(16);
      await lf.dispose();
    }
    const auto = await NodeLiquidFlow.load(full, { device: 'cpu' });
    expect(auto.dtype).toBe('fp32');
    expect(auto.dtypeReason).toMatch(/^auto: fp32/);
    await auto.dispose();
  });

  it('a missing dtype lists the ones present (a folder and a URL prefix); a file of another dtype is refused', async () => {
    await expect(NodeLiquidFlow.load(partial, { device: 'cpu', dtype: 'q4' })).rejects.toThrow(/partial: no model_q4\.onnx for dtype 'q4'; it has model_fp16\.onnx \(fp16\), model_q8\.onnx \(q8\)/);
    await expect(NodeLiquidFlow.load(`${base}/m/partial/`, { device: 'cpu' })).rejects.toThrow(/no model\.onnx for dtype 'fp32'; it has model_fp16\.onnx \(fp16\), model_q8\.onnx \(q8\)/);
    await expect(NodeLiquidFlow.load(join(full, 'model_q8.onnx'), { device: 'cpu', dtype: 'fp16' })).rejects.toThrow(/model_q8\.onnx is q8, not the requested dtype 'fp16'/);
    await expect(NodeLiquidFlow.load(full, { device: 'cpu', dtype: 'q3' as ModelDtype })).rejects.toThrow(/dtype must be 'auto' or one of fp32, fp16, q8, q4/);
    const lf = await NodeLiquidFlow.load(`${base}/m/partial`, { device: 'cpu', dtype: 'q8' });
    expect(lf.path).toBe(`${base}/m/partial/model_q8.onnx`);
    await lf.dispose();
  });
});

describe('runtime-web dtype (Node, wasm)', () => {
  it('a URL prefix gives the file of the dtype asked for, each cached under its own URL; auto on wasm is fp32', async () => {
    const q4 = await LiquidFlow.load(`${base}/m/full`, { device: 'wasm', dtype: 'q4', cache: false });
    expect([q4.dtype, q4.url]).toEqual(['q4', `${base}/m/full/model_q4.onnx`]);
    expect((await q4.generate({ count: 1, steps: 2 }))[0].width).toBe(16);
    await q4.dispose();
    const auto = await LiquidFlow.load(`${base}/m/full/`, { device: 'wasm', cache: false });
    expect([auto.dtype, auto.dtypeReason]).toEqual(['fp32', 'auto: fp32 on wasm']);
    await auto.dispose();
    await expect(LiquidFlow.load(`${base}/m/partial`, { device: 'wasm', dtype: 'q4', cache: false })).rejects.toThrow(/no model_q4\.onnx for dtype 'q4'; it has model_fp16\.onnx \(fp16\), model_q8\.onnx \(q8\)/);
  });

  it("'auto' picks fp16 on a WebGPU adapter with shader-f16, fp32 on one without or on a software one, and says why", async () => {
    const adapter = (features: string[], fallback = false) => ({ features: new Set(features), info: { vendor: 'acme', architecture: 'gpu', description: '', isFallbackAdapter: fallback } });
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter(['shader-f16']) } });
    expect(await chooseDtype('auto', 'auto')).toMatchObject({ dtype: 'fp16', reason: 'auto: fp16 (WebGPU adapter acme gpu has shader-f16)' });
    expect(await chooseDtype('q8', 'auto')).toEqual({ dtype: 'q8', reason: 'requested' });
    expect((await chooseDtype('auto', 'wasm')).dtype).toBe('fp32');
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter([]) } });
    expect(await chooseDtype('auto', 'webgpu')).toMatchObject({ dtype: 'fp32', reason: 'auto: fp32 (WebGPU adapter acme gpu lacks shader-f16)' });
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter(['shader-f16'], true) } });
    expect((await chooseDtype('auto', 'auto')).reason).toMatch(/software WebGPU adapter/);
    vi.stubGlobal('navigator', {});
    expect((await chooseDtype('auto', 'auto')).reason).toMatch(/^auto: fp32 \(no WebGPU/);
  });
});
