// Section 'engines': liquidflow-train's two engines side by side, tiny at 32 px batch 16 and at 128 px batch 4: the
// ORT engine (the whole step as one ONNX graph, core training-step.ts) and the TF.js wasm engine with LiquidFlow's
// kernels on 1 and on all cores' threads. Each engine runs alone in a child process (engine-step.mjs), so peak RSS is
// its own. The ORT engine's GFLOP/s counts 3x the forward MatMul FLOPs (forward + two backward matmuls each), next to
// ORT's MatMul roof measured in this run.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { matmulSection } from './matmul.mjs';
import { fixed, progress } from './util.mjs';

const CHILD = fileURLToPath(new URL('./engine-step.mjs', import.meta.url));
const SHAPES = [
  { size: 32, batch: 16, steps: { ort: 8, wasm: 3 } },
  { size: 128, batch: 4, steps: { ort: 3, wasm: 1 } },
];

/** One engine at one shape in a child process; a child that fails (the wasm heap runs out at 128 px) is a row too. */
function measure(engine, size, batch, steps, threads) {
  progress(`engines: ${engine} ${size}px b${batch}, ${threads} thread${threads === 1 ? '' : 's'}`);
  try {
    const out = execFileSync(process.execPath, [CHILD, engine, String(size), String(batch), String(steps), String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
    return JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    // The tfjs wasm module prints its whole minified source with an uncaught error: keep the error line alone.
    const line = String(e.stderr ?? e.message).split('\n').find((l) => /Error|Aborted/.test(l)) ?? 'failed';
    return { error: line.trim().slice(0, 80) };
  }
}

export async function enginesSection(ctx) {
  if (ctx.matmulGflops === undefined) await matmulSection(ctx); // the roof, measured in this run
  const cores = availableParallelism();
  const rows = [];
  for (const { size, batch, steps } of SHAPES) {
    const ort = measure('ort', size, batch, steps.ort, cores);
    const wasm1 = measure('wasm', size, batch, steps.wasm, 1);
    const wasmN = cores > 1 ? measure('wasm', size, batch, steps.wasm, cores) : wasm1;
    const gflops = (3 * ort.forward_gflop) / (ort.step_ms / 1000);
    const base = { size, batch };
    rows.push({ ...base, engine: `ort (${cores} threads)`, steps_per_s: 1000 / ort.step_ms, step_ms: ort.step_ms, gflops, pct_roof: (100 * gflops) / ctx.matmulGflops,
      nodes: ort.nodes, session_s: ort.session_s, rss: ort.peak_rss_mb, vs_wasm: wasm1.step_ms / ort.step_ms, vs_wasm_n: wasmN.step_ms / ort.step_ms, error: ort.error });
    const wasmRow = (r, name) => ({ ...base, engine: name, steps_per_s: 1000 / r.step_ms, step_ms: r.step_ms, rss: r.peak_rss_mb, error: r.error });
    rows.push(wasmRow(wasm1, 'wasm (1 thread)'));
    if (cores > 1) rows.push(wasmRow(wasmN, `wasm (${cores} threads)`));
  }
  const r32 = rows.find((r) => r.size === 32 && r.engine.startsWith('ort'));
  return {
    title: `Training engines, tiny: steps/s (ORT MatMul roof ${ctx.matmulGflops.toFixed(0)} GFLOP/s in this run)`,
    columns: [
      { key: 'size', header: 'size' },
      { key: 'batch', header: 'batch' },
      { key: 'engine', header: 'engine', align: 'left' },
      { key: 'steps_per_s', header: 'steps/s', fmt: fixed(3) },
      { key: 'step_ms', header: 'ms/step', fmt: fixed(0) },
      { key: 'vs_wasm', header: 'x wasm(1)', fmt: fixed(2) },
      { key: 'vs_wasm_n', header: `x wasm(${cores})`, fmt: fixed(2) },
      { key: 'gflops', header: 'GFLOP/s', fmt: fixed(1) },
      { key: 'pct_roof', header: '% roof', fmt: fixed(0) },
      { key: 'nodes', header: 'nodes' },
      { key: 'session_s', header: 'session s', fmt: fixed(2) },
      { key: 'rss', header: 'peak RSS MB', fmt: fixed(0) },
      { key: 'error', header: 'error', align: 'left', fmt: (v) => v ?? '' },
    ],
    rows,
    notes: ['GFLOP/s = 3 x forward MatMul FLOPs per step / step time; x wasm = the wasm engine\'s ms/step over the ORT engine\'s'],
    targets: [
      { name: 'tiny 32px b16 ORT engine vs wasm (1 thread)', measured: r32?.vs_wasm, unit: 'x', op: '>=', limit: 5 },
      { name: 'tiny 32px b16 ORT engine step', measured: r32?.step_ms / 1000, unit: 's', op: '<=', limit: 0.35 },
      { name: 'tiny 32px b16 ORT engine % of MatMul roof', measured: r32?.pct_roof, unit: '%', op: '>=', limit: 30 },
      { name: 'ORT engine session creation (tiny 32px b16)', measured: r32?.session_s, unit: 's', op: '<=', limit: 5 },
    ],
    json: rows,
  };
}
