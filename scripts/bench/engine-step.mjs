// Child process of the 'engines' bench section: times training steps of one engine at one shape, alone in its
// process, so its peak RSS (resourceUsage().maxRSS) and the TF.js backend it sets are its own. Prints one JSON line.
//   node scripts/bench/engine-step.mjs <ort|wasm> <img_size> <batch> <timed steps> [threads]
import { resolveConfig, initialNoise } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { OrtEngine, TfjsEngine, installWasmKernels, selectEngine } from '@liquidflow/trainer';
import * as tf from '@tensorflow/tfjs';

const [engineName, size, batch, steps, threads] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v)));
const config = resolveConfig('tiny', { img_size: size });
const adam = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1 };
const start = freshCheckpoint(config, 0);
let engine;
let info = {};
if (engineName === 'ort') {
  engine = await OrtEngine.create(config, start, adam, { batch, device: 'cpu', threads: threads || undefined });
  info = { nodes: engine.info.nodes, session_s: engine.info.sessionSeconds, forward_gflop: engine.info.forwardFlops / 1e9 };
} else {
  await selectEngine('wasm');
  installWasmKernels({ threads: threads || 1 });
  engine = new TfjsEngine(config, start, adam);
  info = { backend: tf.getBackend() };
}
const n = batch * 3 * size * size;
const times = [];
for (let s = 0; s < steps + 1; s++) {
  const t0 = performance.now();
  await engine.step({
    x0: initialNoise(s, n).map(Math.tanh), noise: initialNoise(1000 + s, n), t: Float32Array.from({ length: batch }, (_, i) => (i + 0.5) / batch),
    lr: 1e-4, physics: { smooth: 1e-3, tv: 1e-3 }, emaDecay: 0.999,
  });
  if (s > 0) times.push(performance.now() - t0); // the first step warms up (kernel compilation, arena growth)
  process.stderr.write(`  .. ${engineName} ${size}px b${batch}: step ${s + 1}/${steps + 1}\n`);
}
await engine.dispose();
times.sort((a, b) => a - b);
const median = times.length % 2 ? times[times.length >> 1] : (times[times.length / 2 - 1] + times[times.length / 2]) / 2;
console.log(JSON.stringify({ ...info, step_ms: median, best_ms: times[0], steps: times.length, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
