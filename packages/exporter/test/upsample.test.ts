// Training-free upsampling (DiM): a checkpoint trained at 16 px exported to generate at 24 px. The 24 px grid (6x6 = 36
// tokens) is not a power-of-two length, so the scan's chunk padding runs too; depth 4 covers all four zigzag orders
// and the U-Net skips. Narrow (dim 32) to keep it fast.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { readLiquidFlowInfo, resolveConfig, weightsForImageSize } from '@liquidflow/core';
import { saveCheckpoint, type Checkpoint } from '@liquidflow/checkpoint';
import {
  decodeModel, encodeModel, exportBytes, maxAbsDiff, runOrt, runTfjs, verificationBatch, VERIFY_TOLERANCE,
} from '@liquidflow/exporter';
import { perturbedWeights } from './weights-fixture.js';

const TRAINED = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 4, head_dim: 16, time_freq_dim: 32 });
const weights = perturbedWeights(TRAINED, 3);
const ckpt: Checkpoint = { config: TRAINED, step: 7, seed: 0, weights, ema: weights };

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('export at another image size', () => {
  const up = exportBytes(ckpt, 'ema', 24);

  it('builds the graph for 24 px and runs on onnxruntime-node at that size', async () => {
    expect(up.target.config).toEqual({ ...TRAINED, img_size: 24 });
    const session = await ort.InferenceSession.create(up.bytes);
    try {
      const x = new ort.Tensor('float32', new Float32Array(2 * 3 * 24 * 24).fill(0.1), [2, 3, 24, 24]);
      const out = await session.run({ x, t: new ort.Tensor('float32', new Float32Array([0.2, 0.8]), [2]) });
      expect(out.v.dims).toEqual([2, 3, 24, 24]);
      expect(Array.from(out.v.data as Float32Array).every(Number.isFinite)).toBe(true);
    } finally {
      await session.release();
    }
  });

  it('carries every weight over unchanged except the resampled position table', () => {
    const expected = weightsForImageSize(weights, TRAINED, up.target.config);
    const init = new Map(up.graph.initializers.map((t) => [t.name, t]));
    expect(init.get('pos_embed')?.dims).toEqual([1, 36, TRAINED.dim]);
    for (const [name, data] of Object.entries(expected)) {
      expect(init.get(name)?.data, name).toEqual(data);
    }
  });

  it('matches TF.js at the new size with the same resampled weights', async () => {
    const { x, t, dims } = verificationBatch(up.target.config, 3, 1);
    expect(dims).toEqual([3, 3, 24, 24]);
    const ortOut = await runOrt(up.bytes, x, t, dims);
    const tfOut = await runTfjs(up.target.config, up.target.weights, x, t, dims);
    expect(tfOut.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 'the output is not trivially small').toBeGreaterThan(0.1);
    expect(maxAbsDiff(ortOut, tfOut)).toBeLessThanOrEqual(VERIFY_TOLERANCE);
  });

  it('records the generation size in liquidflow.config and the trained size beside it', () => {
    const meta = decodeModel(up.bytes).metadata;
    expect(JSON.parse(meta['liquidflow.config']).img_size).toBe(24);
    expect(meta['liquidflow.trained_img_size']).toBe('16');
    const info = readLiquidFlowInfo(up.bytes);
    expect(info.config.img_size).toBe(24);
    expect(info.trainedImgSize).toBe(16);
    // At the trained size both agree; an export older than the key reads as trained at its own size.
    const same = exportBytes(ckpt);
    expect(readLiquidFlowInfo(same.bytes).trainedImgSize).toBe(16);
    expect(readLiquidFlowInfo(encodeModel(same.graph, { 'liquidflow.config': JSON.stringify(TRAINED) })).trainedImgSize).toBe(16);
  });

  it('rejects sizes that are not a positive multiple of patch_size', () => {
    expect(() => exportBytes(ckpt, 'ema', 18)).toThrow('img_size 18 is not a positive multiple of patch_size 4 (nearest: 16 or 20)');
    expect(() => exportBytes(ckpt, 'ema', 2)).toThrow('(the smallest is 4)');
    expect(() => exportBytes(ckpt, 'ema', 0)).toThrow(/img_size 0 is not a positive multiple/);
  });
});

describe('liquidflow-export --img_size', () => {
  const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
  const exportCli = join(root, 'packages/exporter/dist/cli.js');
  const run = (args: string[]) => spawnSync(process.execPath, [exportCli, ...args], { encoding: 'utf8', cwd: root });
  const dir = mkdtempSync(join(tmpdir(), 'lf-upsample-'));
  const ckptDir = join(dir, 'ckpt');

  it('exports at 24 px (kebab-case alias) and --verify passes at that size', async () => {
    await saveCheckpoint(ckptDir, ckpt);
    const out = join(dir, 'up.onnx');
    const r = run([ckptDir, out, '--img-size', '24', '--verify', '--batch', '2']);
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/liquidflow tiny, 24px \(trained at 16px, weights resized\), step 7/);
    const m = /max_abs_err=([0-9.e+-]+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(VERIFY_TOLERANCE);
    expect(readLiquidFlowInfo(new Uint8Array(readFileSync(out))).trainedImgSize).toBe(16);
  });

  it('rejects a bad --img_size clearly and writes nothing', () => {
    const out = join(dir, 'bad.onnx');
    const odd = run([ckptDir, out, '--img_size', '18']);
    expect(odd.status).toBe(1);
    expect(odd.stderr).toMatch(/^liquidflow-export: img_size 18 is not a positive multiple of patch_size 4 \(nearest: 16 or 20\)$/m);
    const text = run([ckptDir, out, '--img_size=big']);
    expect(text.status).toBe(1);
    expect(text.stderr).toMatch(/--img_size must be a positive integer \(pixels\), got 'big'/);
    const half = run([ckptDir, out, '--img_size', '12.5']);
    expect(half.status).toBe(1);
    expect(half.stderr).toMatch(/--img_size must be a positive integer \(pixels\), got '12.5'/);
    expect(existsSync(out)).toBe(false);
  });
});
