// `npm run bench`: measures the built packages and prints fixed-width tables plus a targets block; the same results
// go to out/bench.json. Targets are goals, not assertions: the exit code is 0 whether they pass or miss.
//
// Adding a section: write `async function mySection(ctx) -> { title, columns, rows, targets?, notes?, json? }` (see
// scripts/bench/util.mjs formatTable for `columns`) and add it to the list in loadSections(). Sections run in order and share `ctx`
// (an earlier one may leave values there, as 'matmul' leaves ctx.matmulGflops for 'forward').
// `node scripts/bench.mjs --only=matmul,forward` runs a subset; --quality_count=N sets the quality section's set size, --dtype_quality_count=N the dtypes section's.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_FILE = path.join(ROOT, 'out', 'bench.json');

async function loadSections() {
  const { matmulSection } = await import('./bench/matmul.mjs');
  const { forwardSection } = await import('./bench/forward.mjs');
  const { samplingSection } = await import('./bench/sampling.mjs');
  const { trainingSection } = await import('./bench/training.mjs');
  const { enginesSection } = await import('./bench/engines.mjs');
  const { qualitySection } = await import('./bench/quality.mjs');
  const { dtypesSection } = await import('./bench/dtypes.mjs');
  const { familiesSection } = await import('./bench/families.mjs');
  const { dimSection } = await import('./bench/dim.mjs');
  const { ssmSection } = await import('./bench/ssm.mjs');
  const { coldstartSection } = await import('./bench/coldstart.mjs');
  return [
    { name: 'matmul', run: matmulSection },
    { name: 'forward', run: forwardSection },
    { name: 'sampling', run: samplingSection },
    { name: 'training', run: trainingSection },
    { name: 'engines', run: enginesSection },
    { name: 'quality', run: qualitySection },
    { name: 'dtypes', run: dtypesSection },
    { name: 'families', run: familiesSection },
    { name: 'dim', run: dimSection },
    { name: 'ssm', run: ssmSection },
    { name: 'coldstart', run: coldstartSection },
  ];
}

function machineInfo(backendDescription) {
  const require = createRequire(import.meta.url);
  const version = (pkg) => {
    try {
      return require(`${pkg}/package.json`).version;
    } catch {
      return undefined;
    }
  };
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime_node: version('onnxruntime-node'),
    tfjs: version('@tensorflow/tfjs'),
    tfjs_backend: backendDescription,
    loadavg_1m_at_start: os.loadavg()[0],
  };
}

function formatTarget(t) {
  const ok = t.measured !== undefined && (t.op === '<=' ? t.measured <= t.limit : t.measured >= t.limit);
  // Ratios below 1 (file sizes) need three digits: 0.269 against a limit of 0.27.
  const digits = Number.isInteger(t.measured) ? 0 : Math.abs(t.limit) < 1 ? 3 : 1;
  const measured = t.measured === undefined ? 'n/a' : t.measured.toFixed(digits);
  return { ...t, pass: ok, text: `${ok ? 'PASS' : 'MISS'}  ${t.name.padEnd(42)} ${`${measured} ${t.unit}`.padStart(12)}  (target ${t.op} ${t.limit} ${t.unit})` };
}

async function main() {
  const t0 = performance.now();
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const { selectBackend, describeChoice } = await import('@liquidflow/tfjs');
  const { formatTable } = await import('./bench/util.mjs');

  const tfBackend = await selectBackend();
  const machine = machineInfo(describeChoice(tfBackend));
  const ctx = { tfBackend, ortOptions: { intraOpNumThreads: 2 } };
  machine.ort_intra_op_threads = ctx.ortOptions.intraOpNumThreads;

  console.log('LiquidFlow bench');
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}; load average ${machine.loadavg_1m_at_start.toFixed(2)} at start`);
  console.log(`node ${machine.node}; onnxruntime-node ${machine.onnxruntime_node} (CPU EP, intraOpNumThreads ${ctx.ortOptions.intraOpNumThreads}); @tensorflow/tfjs ${machine.tfjs}`);
  console.log(machine.tfjs_backend);
  if (machine.loadavg_1m_at_start > 0.5) {
    console.log(`warning: load average ${machine.loadavg_1m_at_start.toFixed(2)} on ${machine.cores} cores: other processes compete, timings will be slower and noisier`);
  }

  const sections = (await loadSections()).filter((s) => !only || only.includes(s.name));
  const results = {};
  const targets = [];
  for (const s of sections) {
    const st = performance.now();
    const r = await s.run(ctx);
    const seconds = (performance.now() - st) / 1e3;
    console.log(`\n== ${r.title}  [${seconds.toFixed(1)} s]`);
    console.log(formatTable(r.columns, r.rows));
    for (const n of r.notes ?? []) console.log(n);
    const tgs = (r.targets ?? []).map(formatTarget);
    targets.push(...tgs.map((t) => ({ section: s.name, ...t })));
    results[s.name] = { title: r.title, seconds, rows: r.rows, ...(r.json ? { detail: r.json } : {}), targets: tgs.map(({ text, ...t }) => t) };
  }

  if (targets.length) {
    console.log('\n== Targets (goals, not assertions)');
    for (const t of targets) console.log(t.text);
  }
  const total = (performance.now() - t0) / 1e3;
  console.log(`\ntotal ${total.toFixed(1)} s (load average ${os.loadavg()[0].toFixed(2)} at end); results written to ${path.relative(ROOT, OUT_FILE)}`);

  await mkdir(path.dirname(OUT_FILE), { recursive: true });
  const report = {
    schema: 'liquidflow-bench/1',
    date: new Date().toISOString(),
    machine,
    total_seconds: total,
    loadavg_1m_at_end: os.loadavg()[0],
    sections: results,
    targets: targets.map(({ text, ...t }) => t),
  };
  await writeFile(OUT_FILE, `${JSON.stringify(report, null, 2)}\n`);
}

// The tfjs wasm module prints its whole minified source with an uncaught error: report only the message.
const fail = (e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
};
process.on('unhandledRejection', fail);
main().catch(fail);
