// runtime-web in a fresh app built by the common bundlers, as a user builds one: a 10-line page importing
// @liquidflow/runtime-web, built with `vite build` (no configuration), with webpack 5 (production mode, the entry and
// output folder only) and with esbuild (its one documented line: the worker as a second entry, ORT's .wasm copied beside
// the bundle), served by a static server with and without COOP/COEP,
// opened in Chromium. Each run (in the generation worker and on the main thread; WASM threads where the page is
// cross-origin isolated) must give the Node runtime's image for the same seed. Forced failures (a worker that cannot
// start, threads that cannot start in time) must fall back and say why on the LiquidFlow object.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { type BrowserContext, chromium } from 'playwright-core';
import { build as viteBuild, createServer as viteDevServer, type ViteDevServer } from 'vite';
import { build as esbuild } from 'esbuild';
import webpack from 'webpack';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow as NodeLiquidFlow } from '@liquidflow/runtime-node';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CONFIG = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
const RUN = { count: 1, steps: 4, seed: 7 };
// wasm (1 or more threads) against onnxruntime-node on this model: identical bytes were measured; 2 levels leave room
// for another CPU's float ordering, far below what a wrong seed or sampler gives.
const BYTE_TOL = 2;
const PACKAGE = resolve(fileURLToPath(new URL('..', import.meta.url)));
// onnxruntime-web's CommonJS entry (dist/ort.min.js) lies in the folder of its .wasm files.
const ORT_DIST = dirname(createRequire(join(PACKAGE, 'package.json')).resolve('onnxruntime-web'));

const MISSING = existsSync(CHROMIUM)
  ? ''
  : `Chromium not found at ${CHROMIUM}: the bundler tests run a real browser. Install it with ` +
    '`apt-get update && apt-get install -y chromium` (Debian; .ci/run does this), or set LIQUIDFLOW_CHROMIUM.';

// The whole app: what a user writes. Options come from the query so one build serves every case.
const MAIN_JS = `
import { LiquidFlow, createWorkerLiquidFlow } from '@liquidflow/runtime-web';
const q = new URLSearchParams(location.search);
const options = { device: 'wasm', cache: false };
if (q.has('threadStartTimeoutMs')) options.threadStartTimeoutMs = Number(q.get('threadStartTimeoutMs'));
if (q.has('worker')) options.worker = q.get('worker');
try {
  const lf = q.has('main') ? await LiquidFlow.load('/model.onnx', options) : await createWorkerLiquidFlow('/model.onnx', options);
  const [image] = await lf.generate(${JSON.stringify(RUN)});
  window.result = { rgba: Array.from(image.data), threads: lf.threads, threadsReason: lf.threadsReason, inWorker: lf.inWorker ?? false,
    workerReason: lf.workerReason ?? '', deviceReason: lf.deviceReason,
    // Which ORT .wasm this page fetched (a worker's fetches are its own, not listed here).
    wasmFiles: performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.wasm')).map((e) => ({ name: e.name.split('/').pop(), bytes: e.decodedBodySize })) };
} catch (e) {
  window.result = { error: e.name + ': ' + e.message };
}
`;

interface PageResult {
  error?: string;
  wasmFiles: { name: string; bytes: number }[];
  rgba: number[];
  threads: number;
  threadsReason: string;
  inWorker: boolean;
  workerReason: string;
  deviceReason: string;
  isolated: boolean;
  cores: number;
  warnings: string[];
}

let work = '';
let context: BrowserContext | undefined;
const servers: Server[] = [];
const sites: Record<string, { isolated: string; plain: string }> = {};
let reference: Uint8ClampedArray;
let webpackWarnings: string[] = [];
let viteDev: ViteDevServer | undefined;
// vite's dev server pre-bundles dependencies into node_modules/.vite/deps, where ORT's .wasm and runtime-web's worker
// files, found by new URL(..., import.meta.url), are missing: the README's one line for `vite dev` keeps both out.
const VITE_DEV_CONFIG = { optimizeDeps: { exclude: ['@liquidflow/runtime-web', 'onnxruntime-web'] } };

/**
 * Builds with webpack's Node API, as `webpack` with this config file does. Rejects on errors; resolves to the warnings
 * other than webpack's size hints (ORT's 27 MB .wasm is over its 244 KiB budget: that is the user's call, not ours).
 */
function webpackBuild(config: webpack.Configuration): Promise<string[]> {
  return new Promise((ok, fail) => {
    webpack(config, (err, stats) => {
      if (err || !stats) return fail(err ?? new Error('webpack gave no stats'));
      const { errors = [], warnings = [] } = stats.toJson({ all: false, errors: true, warnings: true });
      if (errors.length) return fail(new Error(`webpack: ${errors.map((e) => e.message).join('\n')}`));
      ok(warnings.filter((w) => !/size limit|performance recommendations/.test(w.message)).map((w) => `${w.moduleName ?? ''}: ${w.message}`));
    });
  });
}

/** Serves `dir` (and the model at /model.onnx) on 127.0.0.1, with COOP/COEP when `isolated`. */
function serve(dir: string, model: string, isolated: boolean): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path === '/model.onnx' ? model : resolve(dir, `.${path === '/' ? '/index.html' : path}`);
    if (!(file === model || file.startsWith(dir + sep)) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.writeHead(200, headers);
    createReadStream(file).pipe(res);
  });
  servers.push(server);
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(server.address() as { port: number }).port}`)));
}

beforeAll(async () => {
  if (MISSING) return;
  work = mkdtempSync(join(tmpdir(), 'lf-bundlers-'));
  const model = join(work, 'model.onnx');
  writeFileSync(model, exportBytes(freshCheckpoint(CONFIG, 0)).bytes);
  const node = await NodeLiquidFlow.load(model, { device: 'cpu' });
  reference = (await node.generate({ ...RUN, sampler: 'euler' }))[0].data;
  await node.dispose();

  // A fresh app whose node_modules hold the two packages it installs (linked, as `npm i` of the workspace would).
  const app = join(work, 'app');
  mkdirSync(join(app, 'node_modules', '@liquidflow'), { recursive: true });
  symlinkSync(PACKAGE, join(app, 'node_modules', '@liquidflow', 'runtime-web'), 'dir');
  symlinkSync(dirname(ORT_DIST), join(app, 'node_modules', 'onnxruntime-web'), 'dir');
  writeFileSync(join(app, 'main.js'), MAIN_JS);
  const html = '<!doctype html><meta charset="utf-8"><title>app</title><script type="module" src="./main.js"></script>\n';
  writeFileSync(join(app, 'index.html'), html);

  const timed = async <T>(name: string, build: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await build();
    console.log(`${name} build: ${((performance.now() - start) / 1000).toFixed(1)} s`);
    return result;
  };

  // vite: `vite build`, no configuration.
  const viteOut = join(work, 'vite-dist');
  await timed('vite', () => viteBuild({ root: app, configFile: false, logLevel: 'warn', build: { outDir: viteOut } }));

  // webpack: the config a user writes (mode, entry, output folder); the page loads the bundle as a classic script, as
  // html-webpack-plugin writes it. webpack builds the worker and emits ORT's .wasm by itself.
  const webpackOut = join(work, 'webpack-dist');
  webpackWarnings = await timed('webpack', () =>
    webpackBuild({ mode: 'production', context: app, entry: './main.js', output: { path: webpackOut } }),
  );
  writeFileSync(join(webpackOut, 'index.html'), '<!doctype html><meta charset="utf-8"><title>app</title><script defer src="main.js"></script>\n');

  // esbuild: the README's line (the two workers as entry points), and ORT's two .wasm files beside the bundle.
  const esbuildOut = join(work, 'esbuild-dist');
  await timed('esbuild', () =>
    esbuild({
      absWorkingDir: app, entryPoints: {
        main: './main.js', 'bundler-worker': '@liquidflow/runtime-web/bundler-worker', 'bundler-worker-wasm': '@liquidflow/runtime-web/bundler-worker-wasm',
      },
      bundle: true, format: 'esm', outdir: esbuildOut, logLevel: 'warning',
    }),
  );
  // esbuild without the worker entry: the page still works, on the main thread.
  const esbuildPlainOut = join(work, 'esbuild-plain-dist');
  await esbuild({ absWorkingDir: app, entryPoints: { main: './main.js' }, bundle: true, format: 'esm', outdir: esbuildPlainOut, logLevel: 'warning' });
  for (const out of [esbuildOut, esbuildPlainOut]) {
    writeFileSync(join(out, 'index.html'), html);
    for (const wasm of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.jsep.wasm']) copyFileSync(join(ORT_DIST, wasm), join(out, wasm));
  }
  for (const [name, dir] of [['vite', viteOut], ['webpack', webpackOut], ['esbuild', esbuildOut], ['esbuild-plain', esbuildPlainOut]] as const) {
    sites[name] = { isolated: await serve(dir, model, true), plain: await serve(dir, model, false) };
  }
  // vite dev: the same app with real copies in node_modules (vite's dev server serves only files under its root, which a
  // symbolic link out of it is not).
  const devApp = join(work, 'dev-app');
  const devRuntime = join(devApp, 'node_modules', '@liquidflow', 'runtime-web');
  cpSync(join(PACKAGE, 'dist'), join(devRuntime, 'dist'), { recursive: true });
  copyFileSync(join(PACKAGE, 'package.json'), join(devRuntime, 'package.json'));
  cpSync(dirname(ORT_DIST), join(devApp, 'node_modules', 'onnxruntime-web'), { recursive: true, dereference: true });
  mkdirSync(join(devApp, 'public'));
  copyFileSync(model, join(devApp, 'public', 'model.onnx'));
  writeFileSync(join(devApp, 'main.js'), MAIN_JS);
  writeFileSync(join(devApp, 'index.html'), html);
  viteDev = await viteDevServer({
    root: devApp, configFile: false, logLevel: 'warn', ...VITE_DEV_CONFIG,
    server: { host: '127.0.0.1', headers: { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } },
  });
  await viteDev.listen();
  const devUrl = (viteDev.resolvedUrls?.local[0] ?? '').replace(/\/$/, '');
  sites['vite-dev'] = { isolated: devUrl, plain: devUrl };

  context = await chromium.launchPersistentContext(join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS });
});

afterAll(async () => {
  await context?.close();
  await viteDev?.close();
  for (const s of servers) s.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function open(site: string, query: Record<string, string> = {}): Promise<PageResult> {
  if (MISSING) throw new Error(MISSING);
  if (!context) throw new Error('the browser did not start (see the beforeAll error)');
  const page = await context.newPage();
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning') warnings.push(m.text());
  });
  try {
    await page.goto(`${site}/?${new URLSearchParams(query)}`);
    // Generous against a loaded 2-core machine; a hang (what esbuild's threads did before) is a failure, not a wait.
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, null, { timeout: 90_000 });
    const r = await page.evaluate(() => ({
      ...(window as unknown as { result: PageResult }).result, isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency,
    }));
    return { ...r, warnings };
  } finally {
    await page.close();
  }
}

function expectReferenceImage(r: PageResult, label: string): void {
  expect(r.error, label).toBeUndefined();
  expect(r.rgba.length).toBe(reference.length);
  let max = 0;
  for (let i = 0; i < reference.length; i++) max = Math.max(max, Math.abs(r.rgba[i] - reference[i]));
  console.log(`${label}: ${r.inWorker ? 'worker' : 'main thread'}, ${r.threads} thread(s), max RGBA diff vs Node ${max}`);
  expect(max, label).toBeLessThanOrEqual(BYTE_TOL);
}

describe.each(['vite', 'webpack', 'esbuild'] as const)('a fresh app built with %s', (bundler) => {
  for (const isolated of [true, false]) {
    const how = isolated ? 'cross-origin isolated' : 'not isolated';
    it(`generates the Node runtime's image in the worker and on the main thread (${how})`, async () => {
      const site = isolated ? sites[bundler].isolated : sites[bundler].plain;
      const inWorker = await open(site);
      expect(inWorker.isolated).toBe(isolated);
      expectReferenceImage(inWorker, `${bundler}, ${how}, worker`);
      expect(inWorker.inWorker).toBe(true);
      expect(inWorker.workerReason).toBe('in a worker');
      const threads = isolated ? Math.max(1, Math.min(4, inWorker.cores)) : 1;
      expect(inWorker.threads).toBe(threads);
      expect(inWorker.threadsReason).toMatch(isolated ? /^cross-origin isolated: \d threads?/ : /^page not cross-origin isolated/);
      expect(inWorker.warnings).toEqual([]);
      const main = await open(site, { main: '1' });
      expectReferenceImage(main, `${bundler}, ${how}, main thread`);
      expect(main.threads).toBe(threads);
      // WASM runs on ORT's wasm build (faster there than its WebGPU build): its .wasm is the 14 MB one, not the
      // WebGPU build's 28 MB .jsep.wasm (webpack names both by hash, so their sizes tell them apart).
      expect(main.wasmFiles.length, JSON.stringify(main.wasmFiles)).toBe(1);
      expect(main.wasmFiles[0].bytes).toBe(statSync(join(ORT_DIST, 'ort-wasm-simd-threaded.wasm')).size);
    });
  }

  it('falls back to 1 thread, in a fresh worker, when threads do not start in time, and says so', async () => {
    const r = await open(sites[bundler].isolated, { threadStartTimeoutMs: '1' });
    expectReferenceImage(r, `${bundler}, threads forced to time out`);
    if (r.cores < 2) return; // one core: one thread from the start, nothing to fall back from
    expect(r.inWorker).toBe(true);
    expect(r.threads).toBe(1);
    expect(r.threadsReason).toMatch(/WASM threads .* did not start within 1 ms .*: fell back to 1 thread$/);
    expect(r.warnings.join('\n')).toContain('fell back to 1 thread');
  });

  it('runs on the main thread when the worker cannot start, and says so', async () => {
    const r = await open(sites[bundler].isolated, { worker: '/no-such-worker.js' });
    expectReferenceImage(r, `${bundler}, worker missing`);
    expect(r.inWorker).toBe(false);
    expect(r.workerReason).toMatch(/^the worker did not start \(script error.*\): running on the main thread$/);
    expect(r.warnings.join('\n')).toContain('running on the main thread');
  });
});

it("vite dev, with the README's optimizeDeps line, generates the Node runtime's image in the worker and on the main thread", async () => {
  const inWorker = await open(sites['vite-dev'].isolated);
  expectReferenceImage(inWorker, 'vite dev, worker');
  expect(inWorker.inWorker, inWorker.workerReason).toBe(true);
  const main = await open(sites['vite-dev'].isolated, { main: '1' });
  expectReferenceImage(main, 'vite dev, main thread');
  expect(main.isolated).toBe(true);
  expect(main.wasmFiles.map((f) => f.bytes)).toEqual([statSync(join(ORT_DIST, 'ort-wasm-simd-threaded.wasm')).size]);
});

it('an esbuild bundle without the worker entry still generates, on the main thread, and says why', async () => {
  const r = await open(sites['esbuild-plain'].isolated);
  expectReferenceImage(r, 'esbuild without the worker entry');
  expect(r.inWorker).toBe(false);
  expect(r.workerReason).toMatch(/^the worker did not start/);
  expect(r.threads).toBe(Math.max(1, Math.min(4, r.cores)));
});

it('webpack builds the app with no warnings (besides its size hints)', () => {
  if (MISSING) throw new Error(MISSING);
  expect(webpackWarnings).toEqual([]);
});
