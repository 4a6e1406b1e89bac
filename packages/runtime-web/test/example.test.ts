// The web example as a first-time visitor meets it (examples/web in Debian's Chromium via playwright-core): with no
// URL parameters the page opens on the demo model shipped in models/, shows the download's progress and then a moving
// indicator while the session is created, and draws the same images as the Node runtime. Its URL field stays inside a
// narrow page. serve.mjs serves only what the page needs, each URL prefix confined to its folder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { imageGrid } from '@liquidflow/core';
import { LiquidFlow as NodeLiquidFlow } from '@liquidflow/runtime-node';
import { REPO_ROOT, type StaticServer, startServer } from '../../../examples/web/serve.mjs';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--enable-unsafe-webgpu',
];
const DEMO = '/models/fashion-mnist-tiny/model.onnx';
/** What the page opens on: the demo's folder of dtype files ('auto' on wasm loads model.onnx, DEMO). */
const DEMO_FOLDER = '/models/fashion-mnist-tiny/';
const DEMO_BYTES = statSync(join(REPO_ROOT, DEMO)).size;
// The page's defaults (index.html): 4 images, 25 Euler steps, seed 0.
const DEFAULTS = { count: 4, steps: 25, sampler: 'euler' as const, seed: 0 };

let server: StaticServer | undefined;
let context: BrowserContext | undefined;
let profileDir = '';
let outside = '';

const MISSING = existsSync(CHROMIUM)
  ? ''
  : `Chromium not found at ${CHROMIUM}: the example tests need a real browser. ` +
    'Install it with `apt-get update && apt-get install -y chromium` (Debian; .ci/run does this), or set LIQUIDFLOW_CHROMIUM.';

beforeAll(async () => {
  // A folder mounted at /planted/ holding a symbolic link to a file outside it.
  outside = mkdtempSync(join(tmpdir(), 'lf-example-outside-'));
  writeFileSync(join(outside, 'secret.txt'), 'outside the mount');
  const mounted = mkdtempSync(join(tmpdir(), 'lf-example-mount-'));
  symlinkSync(join(outside, 'secret.txt'), join(mounted, 'link.txt'));
  server = await startServer({ mounts: { '/planted/': mounted } });
  if (MISSING) return;
  profileDir = mkdtempSync(join(tmpdir(), 'lf-example-profile-'));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  context.setDefaultTimeout(120_000);
});

afterAll(async () => {
  await context?.close();
  await server?.close();
  for (const dir of [profileDir, outside]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function browser(): BrowserContext {
  if (MISSING) throw new Error(MISSING);
  if (!context) throw new Error('the browser did not start (see the beforeAll error)');
  return context;
}

/** A raw GET (no client-side normalization of '..' or %2e%2e): status, headers and body. */
function get(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; location?: string; length?: string; etag?: string; cacheControl?: string; body: string }> {
  const { port } = server as StaticServer;
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({
        status: res.statusCode ?? 0, location: res.headers.location, length: res.headers['content-length'], etag: res.headers.etag,
        cacheControl: res.headers['cache-control'], body,
      }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('examples/web serve.mjs', () => {
  it('serves the demo model and the page, and redirects / to the page', async () => {
    const model = await get(DEMO, 'HEAD');
    expect([model.status, model.length]).toEqual([200, String(DEMO_BYTES)]);
    expect((await get('/examples/web/')).body).toContain('<title>LiquidFlow in the browser</title>');
    expect((await get('/node_modules/@liquidflow/runtime-web/dist/index.js')).status).toBe(200);
    expect((await get('/'))).toMatchObject({ status: 302, location: '/examples/web/' });
  });

  it('lets browsers cache and revalidate its files: a second visit gets 304 Not Modified, with no body', async () => {
    // Chromium keeps the compiled code of ORT's .wasm only for a cacheable response (no-store kept none of it).
    const wasm = '/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm';
    const first = await get(wasm, 'HEAD');
    expect(first.status).toBe(200);
    expect(first.cacheControl).toBe('no-cache');
    expect(first.etag).toMatch(/^"[0-9a-z]+-[0-9a-z]+"$/);
    const again = await get(wasm, 'GET', { 'if-none-match': first.etag as string });
    expect([again.status, again.body]).toEqual([304, '']);
    expect((await get(wasm, 'GET', { 'if-none-match': '"stale"' })).status).toBe(200);
  });

  it('serves nothing outside its folders: no traversal, no other repository files, no symbolic link out of a mount', async () => {
    // The URL parser already resolves '..' and '%2e%2e' segments (to a path outside every folder: 404); an encoded
    // slash ('..%2f') survives it and is refused after decoding (403).
    const leaks = (body: string) => body.includes('"workspaces"') || body.includes('onnxruntime-node-install');
    for (const [path, status] of [['/models/%2e%2e/package.json', 404], ['/models/..%2f..%2fpackage.json', 403], ['/examples/web/..%2f..%2f.npmrc', 403], ['/models/%2e%2e%2f%2e%2e%2fpackage.json', 403]] as const) {
      const r = await get(path);
      expect(r.status, path).toBe(status);
      expect(leaks(r.body), path).toBe(false);
    }
    for (const path of ['/package.json', '/.git/HEAD', '/packages/core/src/index.ts', '/node_modules/vitest/package.json']) {
      expect((await get(path)).status, path).toBe(404);
    }
    const link = await get('/planted/link.txt');
    expect(link.status).toBe(403);
    expect(link.body).not.toContain('outside the mount');
  });
});

describe('examples/web in Chromium', () => {
  it('opens on the demo model, shows download progress then a moving indicator, and draws the Node runtime\'s images', async () => {
    const node = await NodeLiquidFlow.load(join(REPO_ROOT, DEMO), { device: 'cpu' });
    const want = imageGrid(await node.generate(DEFAULTS));
    await node.dispose();

    const page = await browser().newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    // Every state of the progress bar and its text while the page works.
    await page.addInitScript(() => {
      const log: { value: number | null; text: string }[] = [];
      (window as unknown as { progressLog: typeof log }).progressLog = log;
      document.addEventListener('DOMContentLoaded', () => {
        const bar = document.getElementById('progress') as HTMLProgressElement;
        const text = document.getElementById('progress-text') as HTMLElement;
        const record = () => log.push({ value: bar.hasAttribute('value') ? bar.value : null, text: text.textContent ?? '' });
        const observer = new MutationObserver(record);
        observer.observe(bar, { attributes: true });
        observer.observe(text, { childList: true, characterData: true, subtree: true });
      });
    });
    await page.goto(`${server?.url}/`); // redirected to the page, no parameters
    expect(await page.inputValue('#model')).toBe(DEMO_FOLDER);
    await page.click('#generate');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 120_000 });
    const r = await page.evaluate(() => {
      const s = (window as unknown as { liquidflowExample: { lf: { device: string; config: { img_size: number } }; error: string; events: { status: string; loaded?: number; total?: number }[] } }).liquidflowExample;
      const canvas = document.getElementById('grid') as HTMLCanvasElement;
      const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
      return {
        error: s.error,
        device: s.lf.device,
        imgSize: s.lf.config.img_size,
        deviceText: document.getElementById('device')?.textContent ?? '',
        dtypeText: document.getElementById('dtype')?.textContent ?? '',
        events: s.events.map((e) => ({ status: e.status, loaded: e.loaded, total: e.total })),
        canvas: { width: canvas.width, height: canvas.height, data: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data) },
        log: (window as unknown as { progressLog: { value: number | null; text: string }[] }).progressLog,
      };
    });
    expect(r.error).toBe('');
    expect(r.imgSize).toBe(32);
    // 'auto' on headless Chromium: WebGPU's only adapter is SwiftShader, a software fallback, so it runs wasm and says why.
    expect(r.device).toBe('wasm');
    expect(r.deviceText).toMatch(/^WebGPU not used: adapter google swiftshader is a software fallback, many times slower than wasm — running on wasm \(\d threads?\)$/);
    // 'auto' precision with a software WebGPU adapter: the folder's fp32 file (model.onnx), and the page says why.
    expect(r.dtypeText).toBe('fp32 (auto: fp32 (a software WebGPU adapter: the model runs on wasm))');
    // Downloaded from the server with progress up to the whole file.
    const progress = r.events.filter((e) => e.status === 'progress');
    expect(progress.at(-1)).toEqual({ status: 'progress', loaded: DEMO_BYTES, total: DEMO_BYTES });
    // What the visitor saw move: the bar and its text during the download, then an indeterminate bar with a clock.
    const downloading = r.log.filter((l) => /^downloading [\d.]+ \/ 22\.38 MB \(\d+%\)$/.test(l.text));
    expect(downloading.length, JSON.stringify(r.log.slice(0, 20))).toBeGreaterThan(0);
    expect(downloading.at(-1)?.text).toBe('downloading 22.38 / 22.38 MB (100%)');
    const opening = r.log.filter((l) => /^opening the model… \d+\.\d s$/.test(l.text));
    expect(opening.length).toBeGreaterThan(0);
    expect(opening.every((l) => l.value === null), 'indeterminate while the session is created').toBe(true);
    expect(r.log.some((l) => l.text === 'model ready on wasm' && l.value === 100)).toBe(true);
    // The grid on the canvas is the demo model's images for the page's seed.
    expect([r.canvas.width, r.canvas.height]).toEqual([want.width, want.height]);
    let diff = 0;
    for (let i = 0; i < want.data.length; i++) diff = Math.max(diff, Math.abs(want.data[i] - r.canvas.data[i]));
    expect(diff).toBeLessThanOrEqual(2);
    await page.close();
  });

  it('the model URL field stays inside a narrow page, even with a long URL', async () => {
    const page = await browser().newPage();
    await page.setViewportSize({ width: 360, height: 700 });
    await page.goto(`${server?.url}/examples/web/`);
    for (const url of [DEMO, `${DEMO}?${'v=1&'.repeat(60)}`]) {
      await page.fill('#model', url);
      const m = await page.evaluate(() => {
        const input = document.getElementById('model') as HTMLInputElement;
        return { right: input.getBoundingClientRect().right, viewport: document.documentElement.clientWidth, scroll: document.documentElement.scrollWidth };
      });
      expect(m.right, url).toBeLessThanOrEqual(m.viewport);
      expect(m.scroll, 'no horizontal scrolling').toBeLessThanOrEqual(m.viewport);
    }
    await page.close();
  });
});
