// Section 'coldstart': the web example's cold start in headless Chromium, as a visitor meets it. From navigation to
// the first image (1 image, 25 Euler steps, WASM, the shipped demo model): a first visit (a fresh browser profile:
// nothing cached) and second visits (the same profile, a new tab: the model in the Cache API, ORT's files revalidated).
// Side by side in the same run: runtime-web as it is (WASM sessions on ORT's wasm build, 'onnxruntime-web/wasm') and
// as before (the same page with ORT's WebGPU build answering that URL, whose WASM provider is built with asyncify).
// Each variant gets REPEATS fresh profiles, alternating, so a load change weighs on both; medians are shown. Then the
// cost of one model call on WASM in each build, by batch (the WebGPU build's cost is a fixed one per call).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT, startServer } from '../../examples/web/serve.mjs';
import { fixed, median, progress } from './util.mjs';

const CHROMIUM = process.env.LIQUIDFLOW_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const QUERY = 'device=wasm&count=1&steps=25&sampler=euler&seed=0';
const REPEATS = 3;
const SECOND_VISITS = 2;
const TARGET = { first: 5000, second: 2000 };
const ORT_DIST = join(REPO_ROOT, 'node_modules/onnxruntime-web/dist');

// Records when the page's state changes (the example sets data-state on <body>), in ms since navigation.
function recordStates() {
  const marks = {};
  window.__coldstart = marks;
  new MutationObserver(() => {
    const s = document.body?.dataset.state;
    if (s && !(s in marks)) marks[s] = performance.now();
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
}

async function visit(context, url) {
  const page = await context.newPage();
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.liquidflowExample?.generate);
    // The visitor's click, as soon as the page can take it.
    await page.evaluate(() => window.liquidflowExample.generate());
    const r = await page.evaluate(() => ({ marks: window.__coldstart, state: window.liquidflowExample.status, error: window.liquidflowExample.error, device: window.liquidflowExample.lf?.device }));
    if (r.state !== 'done') throw new Error(`the example page ended '${r.state}': ${r.error}`);
    if (r.device !== 'wasm') throw new Error(`the example ran on ${r.device}, not wasm`);
    return { page: r.marks.idle, model: r.marks.generating, image: r.marks.done };
  } finally {
    await page.close();
  }
}

// ms per model call of the demo model on WASM with ORT's `file` build (2 threads), at each batch: median of 5 after 2.
async function callMs(context, url, file) {
  const page = await context.newPage();
  try {
    await page.goto(url);
    return await page.evaluate(async (file) => {
      const ort = await import(`/node_modules/onnxruntime-web/dist/${file}`);
      ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
      ort.env.wasm.numThreads = 2;
      const session = await ort.InferenceSession.create('/models/fashion-mnist-tiny/model.onnx', { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const out = {};
      for (const n of [1, 4, 16]) {
        const feeds = { x: new ort.Tensor('float32', new Float32Array(n * 3 * 32 * 32).fill(0.1), [n, 3, 32, 32]), t: new ort.Tensor('float32', new Float32Array(n).fill(0.5), [n]) };
        const ms = [];
        for (let i = 0; i < 7; i++) {
          const t0 = performance.now();
          await session.run(feeds);
          ms.push(performance.now() - t0);
        }
        out[n] = ms.slice(2).sort((a, b) => a - b)[2];
      }
      await session.release();
      return out;
    }, file);
  } finally {
    await page.close();
  }
}

export async function coldstartSection() {
  if (!existsSync(CHROMIUM)) return { title: 'Browser cold start', columns: [], rows: [], notes: [`not measured: ${CHROMIUM} missing`] };
  const server = await startServer();
  const url = `${server.url}/examples/web/?${QUERY}`;
  const webgpuBuild = readFileSync(join(ORT_DIST, 'ort.min.mjs'));
  const variants = [
    { name: "now: WASM on ORT's wasm build", before: false, first: [], second: [] },
    { name: "before: WASM on ORT's WebGPU build", before: true, first: [], second: [] },
  ];
  let calls;
  try {
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const v of variants) {
        progress(`coldstart: ${v.name}, profile ${rep + 1}/${REPEATS}`);
        const profile = mkdtempSync(join(tmpdir(), 'lf-coldstart-'));
        const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
        try {
          await context.addInitScript(recordStates);
          if (v.before) {
            await context.route('**/onnxruntime-web/dist/ort.wasm.min.mjs', (route) =>
              route.fulfill({ status: 200, contentType: 'text/javascript', body: webgpuBuild, headers: { 'cache-control': 'no-cache', 'cross-origin-resource-policy': 'same-origin' } }));
          }
          v.first.push(await visit(context, url));
          for (let i = 0; i < SECOND_VISITS; i++) v.second.push(await visit(context, url));
        } finally {
          await context.close();
          rmSync(profile, { recursive: true, force: true });
        }
      }
    }
    progress('coldstart: ms per model call in each ORT build');
    const profile = mkdtempSync(join(tmpdir(), 'lf-coldstart-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    try {
      calls = { wasm: await callMs(context, url, 'ort.wasm.min.mjs'), webgpu: await callMs(context, url, 'ort.min.mjs') };
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  } finally {
    await server.close();
  }
  const summary = (visits) => ({
    page: median(visits.map((x) => x.page)), model: median(visits.map((x) => x.model)), image: median(visits.map((x) => x.image)),
    steps: median(visits.map((x) => x.image - x.model)),
  });
  const rows = variants.flatMap((v) => [
    { variant: v.name, visit: `first (${v.first.length})`, ...summary(v.first) },
    { variant: v.name, visit: `second (${v.second.length})`, ...summary(v.second) },
  ]);
  const [nowFirst, nowSecond, beforeFirst, beforeSecond] = rows;
  return {
    title: 'Browser cold start: the web example, navigation to the first image (Chromium, WASM, tiny 32 px, 1 image, 25 Euler steps)',
    columns: [
      { key: 'variant', header: 'runtime-web', align: 'left' }, { key: 'visit', header: 'visit (n)', align: 'left' },
      { key: 'page', header: 'page ready ms', fmt: fixed(0) }, { key: 'model', header: 'model ready ms', fmt: fixed(0) },
      { key: 'steps', header: '25 steps ms', fmt: fixed(0) }, { key: 'image', header: 'first image ms', fmt: fixed(0) },
    ],
    rows,
    targets: [
      { name: 'browser first visit to first image', measured: nowFirst.image, op: '<=', limit: TARGET.first, unit: 'ms' },
      { name: 'browser second visit to first image', measured: nowSecond.image, op: '<=', limit: TARGET.second, unit: 'ms' },
      { name: 'second visit, before / now', measured: beforeSecond.image / nowSecond.image, op: '>=', limit: 1.5, unit: 'x' },
    ],
    notes: [
      `Medians over ${REPEATS} fresh profiles per variant (alternating); ${SECOND_VISITS} second visits each. Times are ms since navigation: ` +
        'page ready (the example listens), model ready (downloaded or read from the cache, session open), first image (drawn).',
      `First visit before / now: ${(beforeFirst.image / nowFirst.image).toFixed(2)}x.`,
      'One model call on WASM (2 threads), ms at batch 1 / 4 / 16: ' +
        `ORT's wasm build ${[1, 4, 16].map((n) => calls.wasm[n].toFixed(1)).join(' / ')}, ` +
        `its WebGPU build ${[1, 4, 16].map((n) => calls.webgpu[n].toFixed(1)).join(' / ')} ` +
        `(${[1, 4, 16].map((n) => (calls.webgpu[n] / calls.wasm[n]).toFixed(2)).join(' / ')}x).`,
    ],
    json: { variants, callMs: calls },
  };
}
