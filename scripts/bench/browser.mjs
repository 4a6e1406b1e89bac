// Sampling in headless Chromium (runtime-web on WASM) for the 'sampling' bench section: the example app's server
// and page, the same .onnx file, timed inside the page (after one warm-up generation).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../../examples/web/serve.mjs';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Returns (modelPath, batch, steps) => median ms, plus close(); null when Chromium is not installed. */
export async function openBrowserSampler() {
  if (!existsSync(CHROMIUM)) return null;
  const profile = mkdtempSync(join(tmpdir(), 'lf-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  const servers = new Map();
  const page = await context.newPage();
  const run = async (modelPath, batch, steps) => {
    let server = servers.get(modelPath);
    if (!server) {
      server = await startServer({ mounts: { '/bench-models/': dirname(modelPath) } });
      servers.set(modelPath, server);
      await page.goto(`${server.url}/examples/web/`);
    }
    const url = `/bench-models/${basename(modelPath)}`;
    return page.evaluate(
      async ({ url, batch, steps }) => {
        const { LiquidFlow } = await import('@liquidflow/runtime-web');
        const lf = await LiquidFlow.load(url, { device: 'wasm', wasmPaths: '/node_modules/onnxruntime-web/dist/', cache: false });
        try {
          await lf.generate({ count: batch, steps, seed: 0 });
          const t0 = performance.now();
          await lf.generate({ count: batch, steps, seed: 0 });
          return performance.now() - t0;
        } finally {
          await lf.dispose();
        }
      },
      { url, batch, steps },
    );
  };
  const close = async () => {
    await context.close();
    for (const s of servers.values()) await s.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { run, close };
}
