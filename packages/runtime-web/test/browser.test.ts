// @liquidflow/runtime-web in a real Chromium (playwright-core driving Debian's /usr/bin/chromium): the example app
// (examples/web) loads a tiny exported model from the example's static server, generates on WASM, on WebGPU
// (SwiftShader, the software adapter) and in a worker, and every result is held to the Node runtime's output for the
// same seed. Also: 'auto' falling back to WASM when WebGPU is absent, the Cache API (no second download, offline
// start, a corrupt entry replaced), and clear errors for files that are not LiquidFlow models.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { resolveConfig, toImages } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow as NodeLiquidFlow } from '@liquidflow/runtime-node';
import { type StaticServer, startServer } from '../../../examples/web/serve.mjs';
import { perturbedWeights } from '../../exporter/test/weights-fixture.js';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--enable-unsafe-webgpu',
];
// The smallest useful model: 16 px, 2 blocks of width 32 (SwiftShader runs WebGPU at well under 1 GFLOP/s).
const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
const RUN = { count: 2, steps: 4, seed: 7 };
const MODEL = '/models/tiny16.onnx';
// The second family through the same app: a LiquidDiffusion tiny scaled down to 16 px (weights perturbed from the
// init, whose zero-ish output head would make any two runtimes agree trivially).
const LD_CONFIG = resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 16, channels: [8, 16, 32], norm_groups: 4, time_freq_dim: 32 });
const LD_MODEL = '/models/diffusion16.onnx';
// The same weights exported at 32 px with upsample guidance built in (a 16 px pass, Less and Where on t). With 4 Euler
// steps, t = 1 and 0.75 are guided and 0.5 and 0.25 are not, so both sides of the Where run.
const GUIDED = '/models/tiny16-guided32.onnx';
// Measured on this model: wasm and webgpu (latents on or off the GPU) differ from onnxruntime-node by <= 1.2e-7 in
// RGB [0, 1] and not at all in RGBA bytes. The bounds leave room for other adapters' float reassociation (fused
// multiply-adds, other reduction orders) but stay far below what a wrong sampler, seed or time step would give (tenths).
const FLOAT_TOL = 1e-3;
const BYTE_TOL = 2;

let server: StaticServer | undefined;
let context: BrowserContext | undefined;
let modelDir = '';
let profileDir = '';
const reference: Record<'euler' | 'heun' | 'guided', { rgba: Uint8ClampedArray[]; rgb: Float32Array[] }> = {} as never;
let ldReference: { run: Uint8ClampedArray[]; oneStep: Uint8ClampedArray[] } = { run: [], oneStep: [] };

// No browser is a failure of every test here, never a skip: CI installs Chromium, and a machine without it must say so.
const MISSING = existsSync(CHROMIUM)
  ? ''
  : `Chromium not found at ${CHROMIUM}: the runtime-web browser tests need a real browser. ` +
    'Install it with `apt-get update && apt-get install -y chromium` (Debian; .ci/run does this), or set LIQUIDFLOW_CHROMIUM.';

function browser(): BrowserContext {
  if (MISSING) throw new Error(MISSING);
  if (!context) throw new Error('the browser did not start (see the beforeAll error)');
  return context;
}

beforeAll(async () => {
  if (MISSING) return;
  modelDir = mkdtempSync(join(tmpdir(), 'lf-web-models-'));
  profileDir = mkdtempSync(join(tmpdir(), 'lf-web-profile-'));
  const { bytes } = exportBytes(freshCheckpoint(CONFIG, 0));
  writeFileSync(join(modelDir, 'tiny16.onnx'), bytes);
  writeFileSync(join(modelDir, 'truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(join(modelDir, 'not-a-model.onnx'), 'this is a text file, not an ONNX model\n');
  writeFileSync(join(modelDir, 'tiny16-guided32.onnx'), exportBytes(freshCheckpoint(CONFIG, 0), 'ema', 32, { eta: 0.3, scale: 1 }).bytes);

  const node = await NodeLiquidFlow.load(join(modelDir, 'tiny16.onnx'), { device: 'cpu' });
  for (const sampler of ['euler', 'heun'] as const) {
    const images = await node.generate({ ...RUN, sampler });
    reference[sampler] = { rgba: images.map((i) => i.data), rgb: images.map((i) => i.rgb) };
  }
  await node.dispose();
  const guided = await NodeLiquidFlow.load(join(modelDir, 'tiny16-guided32.onnx'), { device: 'cpu' });
  const guidedImages = await guided.generate({ ...RUN, sampler: 'euler' });
  reference.guided = { rgba: guidedImages.map((i) => i.data), rgb: guidedImages.map((i) => i.rgb) };
  await guided.dispose();

  const ldWeights = perturbedWeights(LD_CONFIG, 3);
  writeFileSync(join(modelDir, 'diffusion16.onnx'), exportBytes({ ...freshCheckpoint(LD_CONFIG, 0), weights: ldWeights, ema: ldWeights }).bytes);
  const ld = await NodeLiquidFlow.load(join(modelDir, 'diffusion16.onnx'), { device: 'cpu' });
  ldReference = {
    run: (await ld.generate({ ...RUN, sampler: 'euler' })).map((i) => i.data),
    oneStep: (await ld.generate({ ...RUN, count: 1, steps: 1, sampler: 'euler' })).map((i) => i.data),
  };
  await ld.dispose();

  server = await startServer({ mounts: { '/models/': modelDir } });
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  context.setDefaultTimeout(60_000);
});

afterAll(async () => {
  await context?.close();
  await server?.close();
  for (const dir of [modelDir, profileDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

interface AppResult {
  state: string;
  deviceText: string;
  device: string;
  cacheText: string;
  source: string;
  error: string;
  events: { status: string; cached?: boolean; progress?: number; loaded?: number; total?: number }[];
  rgba: number[][];
  threads: number;
  isolated: boolean;
}

async function openPage(init?: () => void): Promise<Page> {
  const page = await browser().newPage();
  page.setDefaultTimeout(60_000);
  if (init) await page.addInitScript(init);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  return page;
}

const appUrl = (query: Record<string, string | number>) =>
  `${server?.url}/examples/web/?${new URLSearchParams(Object.entries({ model: MODEL, ...RUN, ...query }).map(([k, v]) => [k, String(v)]))}`;

/** Opens the example app with the query preset, clicks Generate and reads back what the page shows and holds. */
async function runApp(page: Page, query: Record<string, string | number>): Promise<AppResult> {
  await page.goto(appUrl(query));
  await page.click('#generate');
  await page.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.state ?? ''));
  return readApp(page);
}

function readApp(page: Page): Promise<AppResult> {
  return page.evaluate(() => {
    const s = (window as unknown as { liquidflowExample: { lf: { device: string; threads: number; source: string } | null; events: AppResult['events']; images: ImageData[] | null; error: string } }).liquidflowExample;
    const text = (id: string) => document.getElementById(id)?.textContent ?? '';
    return {
      state: document.body.dataset.state ?? '',
      deviceText: text('device'),
      device: s.lf?.device ?? '',
      cacheText: text('cache'),
      source: s.lf?.source ?? '',
      error: s.error,
      events: s.events.map((e) => ({ ...e })),
      rgba: (s.images ?? []).map((i) => Array.from(i.data)),
      threads: s.lf?.threads ?? 0,
      isolated: crossOriginIsolated,
    };
  });
}

/** x0 in model space from the page's loaded model, mapped to RGB floats like the Node runtime's `rgb`. */
async function pageRgb(page: Page, sampler: 'euler' | 'heun', imgSize = CONFIG.img_size): Promise<Float32Array[]> {
  const x = await page.evaluate(
    async (o) => Array.from(await (window as unknown as { liquidflowExample: { lf: { sampleLatents(o: object): Promise<Float32Array> } } }).liquidflowExample.lf.sampleLatents(o)),
    { ...RUN, sampler },
  );
  return toImages(Float32Array.from(x), RUN.count, CONFIG.in_channels, imgSize).map((i) => i.rgb);
}

/** Starts a 1000-step run in the example app, waits for its first steps, and cancels it from the page. */
async function cancelLongRun(page: Page): Promise<void> {
  await page.fill('#steps', '1000');
  await page.click('#generate');
  await page.waitForFunction(() => /^step [1-9]/.test(document.getElementById('progress-text')?.textContent ?? ''));
  await page.click('#cancel');
  await page.waitForFunction(() => document.body.dataset.state === 'cancelled');
}

function maxDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((x, n) => {
    expect(x.length).toBe(b[n].length);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - b[n][i]));
  });
  return m;
}

const modelHits = () => server?.hits.get(MODEL) ?? 0;
// ORT's two .wasm files: the wasm build's (what WASM sessions run on) and the WebGPU build's (asyncify, ~3x slower on WASM).
const ortWasmHits = () => ({
  wasm: server?.hits.get('/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm') ?? 0,
  webgpu: server?.hits.get('/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm') ?? 0,
});

describe('runtime-web in Chromium', () => {
  it('generates on wasm (threads, cross-origin isolated) and matches the Node runtime', async () => {
    const page = await openPage();
    const hits = ortWasmHits();
    const r = await runApp(page, { device: 'wasm' });
    expect(r.error).toBe('');
    expect(r.state).toBe('done');
    expect(r.device).toBe('wasm');
    expect(ortWasmHits().wasm - hits.wasm, "ORT's wasm build was fetched").toBeGreaterThan(0);
    expect(ortWasmHits().webgpu - hits.webgpu, "ORT's WebGPU build was not").toBe(0);
    expect(r.isolated).toBe(true);
    expect(r.threads).toBeGreaterThan(1);
    expect(r.deviceText).toMatch(/^Running on wasm \(requested, \d threads\)$/);
    // First visit: downloaded with transformers.js-style events, then stored.
    expect(r.source).toBe('network');
    expect(r.events.map((e) => e.status)).toEqual(expect.arrayContaining(['initiate', 'download', 'progress', 'done', 'ready']));
    expect(r.events[0].status).toBe('initiate');
    expect(r.events.at(-1)?.status).toBe('ready');
    const last = r.events.filter((e) => e.status === 'progress').at(-1);
    expect(last?.progress).toBe(100);
    expect(last?.loaded).toBe(last?.total);
    const bytes = maxDiff(r.rgba, reference.euler.rgba);
    const floats = maxDiff(await pageRgb(page, 'euler'), reference.euler.rgb);
    console.log(`wasm vs node: max RGBA diff ${bytes}, max RGB float diff ${floats.toExponential(2)}`);
    expect(bytes).toBeLessThanOrEqual(BYTE_TOL);
    expect(floats).toBeLessThanOrEqual(FLOAT_TOL);
    await cancelLongRun(page); // on the main thread: the click gets through between model calls
    await page.close();
  });

  it('generates on WebGPU (latents on the GPU, and read back every step) and matches the Node runtime', async () => {
    for (const gpuLatents of [1, 0]) {
      const page = await openPage();
      const r = await runApp(page, { device: 'webgpu', gpuLatents });
      expect(r.error).toBe('');
      expect(r.device).toBe('webgpu');
      expect(r.deviceText).toMatch(/^Running on webgpu \(requested: WebGPU adapter /);
      expect(r.deviceText.endsWith(' · latents stay on the GPU')).toBe(gpuLatents === 1);
      expect(r.source).toBe('cache');
      const bytes = maxDiff(r.rgba, reference.euler.rgba);
      const floats = maxDiff(await pageRgb(page, 'euler'), reference.euler.rgb);
      console.log(`webgpu (latents on ${gpuLatents ? 'GPU' : 'CPU'}) vs node: max RGBA diff ${bytes}, max RGB float diff ${floats.toExponential(2)}`);
      expect(bytes).toBeLessThanOrEqual(BYTE_TOL);
      expect(floats).toBeLessThanOrEqual(FLOAT_TOL);
      if (gpuLatents) {
        // Heun on the GPU too (its own update graph), with previews read back per step.
        const heun = await page.evaluate(async (o) => {
          const previews: number[] = [];
          const lf = (window as unknown as { liquidflowExample: { lf: { sampleLatents(o: object): Promise<Float32Array> } } }).liquidflowExample.lf;
          const x = await lf.sampleLatents({ ...o, preview: true, onProgress: (p: { preview?: Float32Array }) => previews.push(p.preview?.length ?? 0) });
          return { x: Array.from(x), previews };
        }, { ...RUN, sampler: 'heun' });
        expect(heun.previews).toEqual(Array(RUN.steps).fill(RUN.count * 3 * 16 * 16));
        const rgb = toImages(Float32Array.from(heun.x), RUN.count, CONFIG.in_channels, CONFIG.img_size).map((i) => i.rgb);
        const heunDiff = maxDiff(rgb, reference.heun.rgb);
        console.log(`webgpu heun (latents on GPU) vs node: max RGB float diff ${heunDiff.toExponential(2)}`);
        expect(heunDiff).toBeLessThanOrEqual(FLOAT_TOL);
        // Progress tracks computed steps, not queued ones: after the last event only the read-back remains, less
        // than one step's share of the run. (Before settle(), every event fired while the GPU was still on step 1.)
        const timing = await page.evaluate(async (o) => {
          const lf = (window as unknown as { liquidflowExample: { lf: { sampleLatents(o: object): Promise<Float32Array> } } }).liquidflowExample.lf;
          let t0 = performance.now();
          await lf.sampleLatents(o);
          const withoutProgress = performance.now() - t0;
          const marks: number[] = [];
          t0 = performance.now();
          await lf.sampleLatents({ ...o, onProgress: () => marks.push(performance.now() - t0) });
          return { marks, total: performance.now() - t0, withoutProgress };
        }, RUN);
        console.log(`webgpu progress: last event at ${timing.marks.at(-1)?.toFixed(0)} of ${timing.total.toFixed(0)} ms; the same run without progress ${timing.withoutProgress.toFixed(0)} ms`);
        expect(timing.marks).toHaveLength(RUN.steps);
        expect(timing.total - (timing.marks.at(-1) ?? 0)).toBeLessThan(timing.total / RUN.steps);
      }
      await page.close();
    }
  });

  it('runs a LiquidDiffusion model unchanged (wasm, WebGPU, a worker), says its family, and matches the Node runtime', async () => {
    // WebGPU gets one image and one step: SwiftShader compiles a shader per distinct node on the first call (~2000 nodes).
    const cases: Record<string, string | number>[] = [{ device: 'wasm' }, { device: 'wasm', worker: 1 }, { device: 'webgpu', count: 1, steps: 1 }];
    for (const query of cases) {
      const page = await openPage();
      const r = await runApp(page, { ...query, model: LD_MODEL });
      expect(r.error).toBe('');
      expect(r.state).toBe('done');
      expect(r.device).toBe(query.device);
      expect(r.cacheText).toMatch(/^liquiddiffusion tiny 16px, /);
      const want = 'steps' in query ? ldReference.oneStep : ldReference.run;
      const bytes = maxDiff(r.rgba, want);
      console.log(`liquiddiffusion ${JSON.stringify(query)} vs node: max RGBA diff ${bytes}`);
      expect(bytes).toBeLessThanOrEqual(BYTE_TOL);
      await page.close();
    }
  });

  it('generates in a worker (wasm, heun), matches the Node runtime, and cancels', async () => {
    const page = await openPage();
    const hits = ortWasmHits();
    const r = await runApp(page, { device: 'wasm', worker: 1, sampler: 'heun' });
    expect(r.error).toBe('');
    expect(r.device).toBe('wasm');
    // The worker got both builds' URLs from the page and ran WASM on the wasm build (no note in the reason).
    expect(r.deviceText).toMatch(/^Running on wasm \(requested, \d threads?\)$/);
    expect(ortWasmHits().webgpu - hits.webgpu).toBe(0);
    expect(r.cacheText).toContain('in a worker');
    const bytes = maxDiff(r.rgba, reference.heun.rgba);
    console.log(`worker wasm heun vs node: max RGBA diff ${bytes}`);
    expect(bytes).toBeLessThanOrEqual(BYTE_TOL);
    await cancelLongRun(page); // in the worker: it stops between model calls
    await page.close();
  });

  it("'auto' falls back to wasm when WebGPU is absent and says why", async () => {
    // No navigator.gpu at all (and no COOP/COEP: one thread, without failing).
    const noGpu = await openPage(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    });
    const a = await runApp(noGpu, { device: 'auto', coi: 0 });
    expect(a.error).toBe('');
    expect(a.device).toBe('wasm');
    expect(a.isolated).toBe(false);
    expect(a.threads).toBe(1);
    expect(a.deviceText).toBe('WebGPU unavailable: navigator.gpu is missing (this browser has no WebGPU, or it is disabled) — running on wasm (1 thread, page not cross-origin isolated)');
    expect(maxDiff(a.rgba, reference.euler.rgba)).toBeLessThanOrEqual(BYTE_TOL);
    await noGpu.close();
    // navigator.gpu present but no adapter.
    const noAdapter = await openPage(() => {
      Object.defineProperty(GPU.prototype, 'requestAdapter', { value: async () => null, configurable: true });
    });
    const b = await runApp(noAdapter, { device: 'auto' });
    expect(b.device).toBe('wasm');
    expect(b.deviceText).toMatch(/^WebGPU unavailable: no adapter — running on wasm \(\d threads\)$/);
    // Asking for WebGPU explicitly fails with the reason instead of falling back.
    const c = await runApp(noAdapter, { device: 'webgpu' });
    expect(c.state).toBe('error');
    expect(c.error).toContain("device 'webgpu' is not available: no adapter");
    await noAdapter.close();
  });

  it('keeps the model in the Cache API: later visits download nothing and start offline', async () => {
    const page = await openPage();
    expect(modelHits()).toBe(1); // only the first test's visit downloaded it
    const r = await runApp(page, { device: 'wasm' });
    expect(r.source).toBe('cache');
    expect(r.events.map((e) => `${e.status}${e.cached ? '(cached)' : ''}`)).toEqual(['initiate', 'progress(cached)', 'done(cached)', 'ready']);
    expect(modelHits()).toBe(1);
    // Offline: the network is really gone, and loading the model again still works from the cache.
    await browser().setOffline(true);
    try {
      const online = await page.evaluate(() => fetch('/models/tiny16.onnx?probe').then(() => true, () => false));
      expect(online).toBe(false);
      await page.selectOption('#device-select', 'auto'); // a new device: the app loads the model again
      await page.click('#generate');
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? '') && (window as unknown as { liquidflowExample: { generations: number } }).liquidflowExample.generations === 2);
      const offline = await readApp(page);
      expect(offline.error).toBe('');
      expect(offline.source).toBe('cache');
      expect(maxDiff(offline.rgba, reference.euler.rgba)).toBeLessThanOrEqual(BYTE_TOL);
    } finally {
      await browser().setOffline(false);
    }
    expect(modelHits()).toBe(1);
    await page.close();
  });

  it('deletes a corrupt cache entry and downloads the model again', async () => {
    const page = await openPage();
    await page.goto(appUrl({ device: 'wasm' }));
    // Flip one byte of the cached model and keep its stored checksum.
    const flipped = await page.evaluate(async (url) => {
      const cache = await caches.open('liquidflow-models-v1');
      const hit = await cache.match(url);
      if (!hit) return false;
      const bytes = new Uint8Array(await hit.arrayBuffer());
      bytes[bytes.length >> 1] ^= 0xff;
      await cache.put(url, new Response(bytes, { headers: hit.headers }));
      return true;
    }, `${server?.url}${MODEL}`);
    expect(flipped).toBe(true);
    await page.click('#generate');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''));
    const r = await readApp(page);
    expect(r.error).toBe('');
    expect(r.source).toBe('network');
    expect(r.cacheText).toContain('corrupt entry deleted (checksum mismatch); downloaded again');
    expect(modelHits()).toBe(2);
    expect(maxDiff(r.rgba, reference.euler.rgba)).toBeLessThanOrEqual(BYTE_TOL);
    // The fresh copy is good: the next visit is a cache hit again.
    const again = await runApp(page, { device: 'wasm' });
    expect(again.source).toBe('cache');
    expect(modelHits()).toBe(2);
    await page.close();
  });

  it('rejects missing, truncated and non-LiquidFlow files with clear messages, and caches none of them', async () => {
    const page = await openPage();
    const cases: [string, RegExp][] = [
      ['/models/missing.onnx', /missing\.onnx: download failed \(HTTP 404 Not Found\)/],
      ['/models/truncated.onnx', /truncated\.onnx: truncated or corrupt/],
      ['/models/not-a-model.onnx', /not-a-model\.onnx: (not a protobuf ONNX model|truncated or corrupt|not an ONNX model)/],
    ];
    for (const [model, message] of cases) {
      const r = await runApp(page, { device: 'wasm', model });
      expect(r.state, model).toBe('error');
      expect(r.error).toMatch(message);
    }
    const cached = await page.evaluate(async () => (await (await caches.open('liquidflow-models-v1')).keys()).map((k) => new URL(k.url).pathname));
    // The good models the earlier tests loaded in this profile stay; none of the bad ones was stored.
    expect(cached.filter((path) => cases.some(([model]) => model === path))).toEqual([]);
    expect(cached.length).toBeGreaterThan(0);
    await page.close();
  });

  it('runs a model with upsample guidance built in (Less, Where) on wasm and WebGPU, matching the Node runtime', async () => {
    for (const device of ['wasm', 'webgpu']) {
      const page = await openPage();
      const r = await runApp(page, { device, model: GUIDED });
      expect(r.error, device).toBe('');
      expect(r.device).toBe(device);
      const bytes = maxDiff(r.rgba, reference.guided.rgba);
      const floats = maxDiff(await pageRgb(page, 'euler', 32), reference.guided.rgb);
      console.log(`guided 32px on ${device} vs node: max RGBA diff ${bytes}, max RGB float diff ${floats.toExponential(2)}`);
      expect(bytes).toBeLessThanOrEqual(BYTE_TOL);
      expect(floats).toBeLessThanOrEqual(FLOAT_TOL);
      await page.close();
    }
  });
});
