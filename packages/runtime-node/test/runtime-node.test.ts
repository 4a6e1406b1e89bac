// What a Node app relies on: the same images as the TF.js sampler for the same seed and weights, a responsive event
// loop while generating, cancellation, and clear errors for bad files and devices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import { spawn, spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveConfig, sample, toImages } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel, tfjsVelocity } from '@liquidflow/tfjs';
import { buildGraph, encodeModel, exportBytes } from '@liquidflow/exporter';
import { LiquidFlow } from '@liquidflow/runtime-node';
import { perturbedWeights } from '../../exporter/test/weights-fixture.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'lf-node-'));
const cfg = resolveConfig('tiny', { img_size: 32 });
const weights = perturbedWeights(cfg, 3);
const modelPath = join(dir, 'tiny32.onnx');
const ckpt = { ...freshCheckpoint(cfg, 0), weights, ema: weights };
writeFileSync(modelPath, exportBytes(ckpt).bytes);

let lf: LiquidFlow;
beforeAll(async () => {
  await tf.setBackend('wasm');
  lf = await LiquidFlow.load(modelPath, { device: 'cpu' });
});
afterAll(async () => {
  await lf?.dispose();
});

describe('LiquidFlow (Node)', () => {
  it('generates the same images as the TF.js sampler for the same seed and weights (10 Euler steps)', async () => {
    const images = await lf.generate({ count: 2, steps: 10, sampler: 'euler', seed: 5 });
    expect(images).toHaveLength(2);
    expect([images[0].width, images[0].height, images[0].data.length]).toEqual([32, 32, 32 * 32 * 4]);
    const model = new TfModel(cfg, weights);
    const x = await sample(tfjsVelocity(model), { count: 2, channels: 3, size: 32, steps: 10, sampler: 'euler', seed: 5 });
    model.dispose();
    const ref = toImages(x, 2, 3, 32);
    let maxErr = 0;
    let spread = 0;
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < ref[n].rgb.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(images[n].rgb[i] - ref[n].rgb[i]));
        spread = Math.max(spread, Math.abs(ref[n].rgb[i] - 0.5));
      }
    }
    expect(spread, 'the images are not flat').toBeGreaterThan(0.1);
    expect(maxErr).toBeLessThanOrEqual(1e-3);
  });

  it('gives identical images for the same seed and different ones for another seed', async () => {
    const a = await lf.generate({ count: 1, steps: 3, seed: 9 });
    const b = await lf.generate({ count: 1, steps: 3, seed: 9 });
    const c = await lf.generate({ count: 1, steps: 3, seed: 10 });
    expect(Buffer.from(a[0].data).equals(Buffer.from(b[0].data))).toBe(true);
    expect(Buffer.from(a[0].data).equals(Buffer.from(c[0].data))).toBe(false);
  });

  it('reports progress and can be cancelled, then keeps working', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const run = lf.generate({ count: 1, steps: 50, seed: 1, signal: controller.signal, onProgress: (p) => (steps.push(p.step), p.step === 2 && controller.abort()) });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps.length).toBeLessThan(50);
    const ok = await lf.generate({ count: 1, steps: 2, seed: 1, onProgress: (p) => steps.push(p.step) });
    expect(ok).toHaveLength(1);
  });

  it('does not block the event loop while generating', async () => {
    const big = resolveConfig('tiny', { img_size: 128 });
    const path = join(dir, 'tiny128.onnx');
    writeFileSync(path, encodeModel(buildGraph(big, freshCheckpoint(big, 0).ema).graph, { 'liquidflow.config': JSON.stringify(big) }));
    const slow = await LiquidFlow.load(path, { device: 'cpu', threads: 1 });
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const stepTimes: number[] = [];
    let prev = 0;
    // count 4: on a fast host two 128 px images took only ~125 ms a step, too short to tell a stall from a step.
    await slow.generate({ count: 4, steps: 4, seed: 0, onProgress: (p) => (stepTimes.push(p.elapsed - prev), (prev = p.elapsed)) });
    clearInterval(timer);
    await slow.dispose();
    // Were run() on this thread, the timer would stall for a whole model call each step. A loaded machine delays
    // timers too, so the bound is relative to the step time (and never looser than 100 ms on a quiet one).
    const shortestStep = Math.min(...stepTimes);
    expect(shortestStep, 'a step is long enough to tell').toBeGreaterThan(150);
    expect(maxGap).toBeLessThan(Math.max(100, shortestStep / 2));
  });

  it('says which device runs: auto falls back to the CPU and says why', async () => {
    const auto = await LiquidFlow.load(modelPath, { device: 'auto' });
    expect(auto.device).toBe('cpu');
    expect(auto.deviceReason).toMatch(/CUDA unavailable/);
    await auto.dispose();
    expect(lf.device).toBe('cpu');
  });

  it('explains how to get CUDA when it is asked for and missing', async () => {
    await expect(LiquidFlow.load(modelPath, { device: 'cuda' })).rejects.toThrow(/device 'cuda' is not available.*onnxruntime-node-install=cuda12/s);
  });

  it('rejects a missing, truncated or foreign model file with the file named', async () => {
    await expect(LiquidFlow.load(join(dir, 'nope.onnx'))).rejects.toThrow(/nope\.onnx: model file not found/);
    const bytes = readFileSync(modelPath);
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 5000));
    await expect(LiquidFlow.load(truncated)).rejects.toThrow(/truncated\.onnx: truncated or corrupt/);
    const foreign = join(dir, 'foreign.onnx');
    writeFileSync(foreign, encodeModel(buildGraph(cfg, weights).graph, {}));
    await expect(LiquidFlow.load(foreign)).rejects.toThrow(/foreign\.onnx: not a LiquidFlow export/);
    const text = join(dir, 'text.onnx');
    writeFileSync(text, 'hello, this is not a model\n');
    await expect(LiquidFlow.load(text)).rejects.toThrow(/text\.onnx/);
  });
});

describe('liquidflow-generate', () => {
  const cli = join(root, 'packages/runtime-node/dist/cli.js');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });

  it('writes a PNG grid and single images', () => {
    const r = run([modelPath, '--count', '4', '--steps', '3', '--sampler', 'heun', '--seed', '2', '--out', 'grid.png', '--out-dir', 'imgs']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote grid\.png \(70x70, 4 images\)/);
    expect(r.stderr).toMatch(/(^|\n)3\/3 heun sampling [\d.]+ steps\/s eta 0s\n/); // the progress line's last state
    const png = readFileSync(join(dir, 'grid.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(70);
    expect(readdirSync(join(dir, 'imgs')).sort()).toEqual(['000.png', '001.png', '002.png', '003.png']);
  });

  const preload = join(root, 'packages/core/test/fixtures/enospc-preload.mjs');
  const runFull = (args: string[], writesBefore: number, cwd: string) => spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, cli, ...args],
    { encoding: 'utf8', cwd, env: { ...process.env, LF_WRITES_BEFORE_ENOSPC: String(writesBefore) } });

  it('kill -9 at any moment of liquidflow-generate leaves the previous grid or a whole new one', async () => {
    const work = mkdtempSync(join(tmpdir(), 'lf-kill-'));
    const previous = Buffer.from('the previous grid.png');
    writeFileSync(join(work, 'grid.png'), previous);
    // Delays spread over start-up, sampling and the write; every round ends in one of the two states.
    for (const delayMs of [200, 500, 800, 1100, 1400, 1700, 2000]) {
      const child = spawn(process.execPath, [cli, modelPath, '--count', '16', '--steps', '4', '--out', 'grid.png'], { cwd: work, stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      const bytes = readFileSync(join(work, 'grid.png'));
      if (!bytes.equals(previous)) expect(PNG.sync.read(bytes).width, `after a kill at ${delayMs} ms`).toBe(138);
    }
  }, 60_000);

  it('a full disk while writing --out keeps the previous grid byte-identical and leaves no temp file', () => {
    const work = mkdtempSync(join(tmpdir(), 'lf-enospc-'));
    const previous = Buffer.from('the previous grid.png');
    writeFileSync(join(work, 'grid.png'), previous);
    const r = runFull([modelPath, '--count', '2', '--steps', '1', '--out', 'grid.png'], 0, work);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/liquidflow-generate: cannot write grid\.png: ENOSPC/);
    expect(readFileSync(join(work, 'grid.png')).equals(previous)).toBe(true);
    expect(readdirSync(work)).toEqual(['grid.png']);
  });

  it('a full disk while writing --out-dir keeps each previous PNG byte-identical and leaves no temp file', () => {
    const work = mkdtempSync(join(tmpdir(), 'lf-enospc-'));
    mkdirSync(join(work, 'imgs'));
    const previous = [Buffer.from('previous 000'), Buffer.from('previous 001')];
    previous.forEach((b, i) => writeFileSync(join(work, 'imgs', `00${i}.png`), b));
    // The grid is written (1 write allowed), then every single-image write hits the full disk.
    const r = runFull([modelPath, '--count', '2', '--steps', '1', '--out', 'grid.png', '--out-dir', 'imgs'], 1, work);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot write imgs\/00[01]\.png: ENOSPC/);
    expect(readdirSync(join(work, 'imgs')).sort()).toEqual(['000.png', '001.png']);
    previous.forEach((b, i) => expect(readFileSync(join(work, 'imgs', `00${i}.png`)).equals(b)).toBe(true));
    expect(readFileSync(join(work, 'grid.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('--count and --steps beyond the sampler limits fail at once naming the flag, the value and the limit', () => {
    for (const [flag, value, limit] of [['--count', '1e9', 1024], ['--steps', '1e9', 10000], ['--count', '1025', 1024]] as const) {
      const r = run([modelPath, flag, value, '--out', join(dir, 'never.png')]);
      expect(r.status, `${flag} ${value}`).toBe(1);
      expect(r.stderr).toContain(`${flag} is ${Number(value)}, above the limit of ${limit}`);
      expect(r.stderr.length).toBeLessThan(300);
    }
    expect(readdirSync(dir)).not.toContain('never.png');
  });

  it('a model whose metadata claims img_size 1e9 is refused at load, naming the file, the field and the limit', async () => {
    const path = join(dir, 'huge-meta.onnx');
    writeFileSync(path, encodeModel(buildGraph(cfg, weights).graph, { 'liquidflow.config': JSON.stringify({ ...cfg, img_size: 1e9 }) }));
    const e = await LiquidFlow.load(path, { device: 'cpu' }).then(() => null, (x: Error) => x);
    expect(e?.message).toContain(path);
    expect(e?.message).toContain("'img_size' is 1000000000, above the limit of 2048");
    const r = run([path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("'img_size' is 1000000000");
  });

  it('fails with a short, clear message for a bad model or option', () => {
    const missing = run([join(dir, 'missing.onnx')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/missing\.onnx: model file not found/);
    expect(missing.stderr.length).toBeLessThan(500);
    const bad = run([modelPath, '--sampler', 'rk4']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--sampler must be euler or heun/);
  });
});

describe('a LiquidDiffusion model (the second family) through the same runtime', () => {
  // An eighth of tiny's width, at 16 px: the contract (x, t -> v) is the family's only face to the runtime.
  const ldCfg = resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 16, channels: [8, 16, 32], norm_groups: 4, time_freq_dim: 32 });
  const ldWeights = perturbedWeights(ldCfg, 4);
  const ldPath = join(dir, 'diffusion16.onnx');
  writeFileSync(ldPath, exportBytes({ ...freshCheckpoint(ldCfg, 0), weights: ldWeights, ema: ldWeights }).bytes);

  it('loads it, says which family and variant, and generates what the TF.js sampler does', async () => {
    const ld = await LiquidFlow.load(ldPath, { device: 'cpu' });
    try {
      expect([ld.config.arch, ld.config.variant, ld.config.img_size]).toEqual(['liquiddiffusion', 'tiny', 16]);
      const images = await ld.generate({ count: 2, steps: 4, seed: 5 });
      const model = new TfModel(ldCfg, ldWeights);
      const ref = toImages(await sample(tfjsVelocity(model), { count: 2, channels: 3, size: 16, steps: 4, seed: 5 }), 2, 3, 16);
      model.dispose();
      let maxErr = 0;
      let spread = 0;
      for (let n = 0; n < 2; n++) {
        for (let i = 0; i < ref[n].rgb.length; i++) {
          maxErr = Math.max(maxErr, Math.abs(images[n].rgb[i] - ref[n].rgb[i]));
          spread = Math.max(spread, Math.abs(ref[n].rgb[i] - 0.5));
        }
      }
      expect(spread, 'the images are not flat').toBeGreaterThan(0.1);
      expect(maxErr).toBeLessThanOrEqual(1e-3);
    } finally {
      await ld.dispose();
    }
  });

  it('liquidflow-generate names the family and variant it loaded', () => {
    const cli = join(root, 'packages/runtime-node/dist/cli.js');
    const r = spawnSync(process.execPath, [cli, ldPath, '--count', '2', '--steps', '2', '--out', 'diffusion.png'], { encoding: 'utf8', cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${ldPath}: liquiddiffusion tiny 16px, fp32`);
    expect(r.stdout).toMatch(/wrote diffusion\.png \(38x20, 2 images\)/);
  });
});
