// Sampling in headless Chromium (runtime-web on WASM) for the 'sampling' bench section: the example app's server
// and page, the same .onnx file, timed inside the page (after one warm-up generation).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../../examples/web/serve.mjs';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
// --enable-unsafe-webgpu: WebGPU on the software adapter (SwiftShader), for correctness checks only (it is slow).
const ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];

/**
 * Returns run(modelPath, batch, steps, { device, dtype }) => { ms, loadMs, firstPixels } (one timed generation after
 * a warm-up; loadMs is LiquidFlow.load; firstPixels the first image's RGBA bytes of the warm-up), plus close(); null
 * when Chromium is not installed.
 */
export async function openBrowserSampler() {
  if (!existsSync(CHROMIUM)) return null;
  const profile = mkdtempSync(join(tmpdir(), 'lf-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const servers = new Map();
  const page = await context.newPage();
  const run = async (modelPath, batch, steps, { device = 'wasm', timed = true } = {}) => {
    let server = servers.get(modelPath);
    if (!server) {
      server = await startServer({ mounts: { '/bench-models/': dirname(modelPath) } });
      servers.set(modelPath, server);
      await page.goto(`${server.url}/examples/web/`);
    }
    const url = `/bench-models/${basename(modelPath)}`;
    return page.evaluate(
      async ({ url, batch, steps, device, timed }) => {
        const { LiquidFlow } = await import('@liquidflow/runtime-web');
        const l0 = performance.now();
        const lf = await LiquidFlow.load(url, { device, wasmPaths: '/node_modules/onnxruntime-web/dist/', cache: false });
        const loadMs = performance.now() - l0;
        try {
          const first = await lf.generate({ count: batch, steps, seed: 0 });
          let ms;
          if (timed) {
            const t0 = performance.now();
            await lf.generate({ count: batch, steps, seed: 0 });
            ms = performance.now() - t0;
          }
          return { ms, loadMs, device: lf.device, firstPixels: Array.from(first[0].data) };
        } finally {
          await lf.dispose();
        }
      },
      { url, batch, steps, device, timed },
    );
  };
  const close = async () => {
    await context.close();
    for (const s of servers.values()) await s.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { run, close };
}
