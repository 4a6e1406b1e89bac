// Section 'families': LiquidDiffusion tiny next to LiquidFlow tiny in the same run: ORT forward time, the counted
// FLOPs' rate and the graph's node count at 32, 64 and 128 px (batch 1), and sampling images/s in runtime-node at
// 32 px (batch 16, 25 Euler steps). Fresh weights (seed 0): speed does not depend on training.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes, verificationBatch } from '@liquidflow/exporter';
import { LiquidFlow } from '@liquidflow/runtime-node';
import { fixed, progress, timeIt } from './util.mjs';

const ARCHS = ['liquidflow', 'liquiddiffusion'];
const SIZES = [32, 64, 128];
const TIMING = { warmup: 2, minRuns: 5, maxRuns: 30, budgetMs: 2000 };

export async function familiesSection(ctx) {
  const rows = [];
  const dir = await mkdtemp(join(tmpdir(), 'lf-bench-families-'));
  try {
    for (const arch of ARCHS) {
      for (const size of SIZES) {
        const config = resolveConfig('tiny', { arch, img_size: size });
        const { bytes, nodes, params, flopsPerSample } = exportBytes(freshCheckpoint(config, 0), 'ema');
        progress(`families: ${arch} tiny ${size}px forward`);
        const session = await ort.InferenceSession.create(bytes, ctx.ortOptions);
        const { x, t, dims } = verificationBatch(config, 1, 0);
        const feeds = { x: new ort.Tensor('float32', x, dims), t: new ort.Tensor('float32', t, [1]) };
        const r = await timeIt(async () => (await session.run(feeds)).v.data, TIMING);
        await session.release();
        let ips;
        if (size === 32) {
          progress(`families: ${arch} tiny 32px sampling`);
          const path = join(dir, `${arch}.onnx`);
          await writeFile(path, bytes);
          const lf = await LiquidFlow.load(path, { device: 'cpu', threads: ctx.ortOptions.intraOpNumThreads });
          await lf.generate({ count: 16, steps: 25, seed: 0 });
          const t0 = performance.now();
          await lf.generate({ count: 16, steps: 25, seed: 0 });
          ips = 16000 / (performance.now() - t0);
          await lf.dispose();
        }
        rows.push({ arch, size, params: params / 1e6, nodes, ms: r.median, gflops: flopsPerSample / (r.median * 1e-3) / 1e9, ips });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const at = (arch, size) => rows.find((r) => r.arch === arch && r.size === size);
  return {
    title: 'Model families: LiquidDiffusion tiny vs LiquidFlow tiny (ORT CPU, batch 1)',
    columns: [
      { key: 'arch', header: 'family', align: 'left' }, { key: 'size', header: 'px' }, { key: 'params', header: 'params M', fmt: fixed(2) },
      { key: 'nodes', header: 'nodes' }, { key: 'ms', header: 'forward ms', fmt: fixed(1) }, { key: 'gflops', header: 'GFLOP/s', fmt: fixed(1) },
      { key: 'ips', header: 'img/s (32px b16, 25 steps)', fmt: fixed(1) },
    ],
    rows,
    notes: [
      `LiquidDiffusion / LiquidFlow forward time: ${SIZES.map((s) => `${s}px ${(at('liquiddiffusion', s).ms / at('liquidflow', s).ms).toFixed(2)}x`).join(', ')}`,
      'GFLOP/s counts the FLOPs the graph builder counts (MatMuls and convs) over the forward time.',
    ],
  };
}
