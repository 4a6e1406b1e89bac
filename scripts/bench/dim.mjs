// Section 'dim': LiquidFlow tiny with each of DiM's options (seed 001) next to the model without them in the same run:
// ORT forward time at 32 px, batch 1 and 16, and at 128 px (tiny's seed size) batch 1, with the ratio to that model.
// (tiny's own default has since become scan_schedule 'dim'; the rows spell every option out.)
// Every model is timed twice, in forward then reverse order, and the faster median kept, so a load change during the
// run weighs on all of them alike. Fresh weights (seed 0): speed does not depend on training.
import * as ort from 'onnxruntime-node';
import { resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes, verificationBatch } from '@liquidflow/exporter';
import { fixed, progress, timeIt } from './util.mjs';

const OPTIONS = [
  ['without (pad 0, pixels, snake)', { scan_schedule: 'snake' }],
  ['pad_tokens 3', { pad_tokens: 3 }],
  ["smoothers 'tokens'", { smoothers: 'tokens' }],
  ["scan_schedule 'dim'", { scan_schedule: 'dim' }],
  ['all three', { pad_tokens: 3, smoothers: 'tokens', scan_schedule: 'dim' }],
];
const CASES = [
  { key: 'b1', size: 32, batch: 1 },
  { key: 'b16', size: 32, batch: 16 },
  { key: 'px128', size: 128, batch: 1 },
];
const TIMING = { warmup: 2, minRuns: 5, maxRuns: 30, budgetMs: 1500 };

export async function dimSection(ctx) {
  const rows = OPTIONS.map(([option, o]) => ({ option, o, ms: {} }));
  for (const c of CASES) {
    const sessions = [];
    for (const row of rows) {
      const config = resolveConfig('tiny', { img_size: c.size, ...row.o });
      const { bytes, nodes, params } = exportBytes(freshCheckpoint(config, 0), 'ema');
      if (c.size === 32) Object.assign(row, { nodes, params: params / 1e6 });
      const { x, t, dims } = verificationBatch(config, c.batch, 0);
      sessions.push({ row, session: await ort.InferenceSession.create(bytes, ctx.ortOptions), feeds: { x: new ort.Tensor('float32', x, dims), t: new ort.Tensor('float32', t, [c.batch]) } });
    }
    for (const pass of [sessions, [...sessions].reverse()]) {
      for (const { row, session, feeds } of pass) {
        progress(`dim: ${row.option}, ${c.size}px batch ${c.batch}`);
        const r = await timeIt(async () => (await session.run(feeds)).v.data, TIMING);
        row.ms[c.key] = Math.min(row.ms[c.key] ?? Infinity, r.median);
      }
    }
    for (const { session } of sessions) await session.release();
  }
  const base = rows[0].ms;
  const out = rows.map((r) => ({
    option: r.option, params: r.params, nodes: r.nodes,
    ...Object.fromEntries(CASES.flatMap((c) => [[`ms_${c.key}`, r.ms[c.key]], [`x_${c.key}`, r.ms[c.key] / base[c.key]]])),
  }));
  const ratio = (v) => `${v.toFixed(2)}x`;
  return {
    title: "DiM's options on LiquidFlow tiny vs today's tiny (ORT CPU forward)",
    columns: [
      { key: 'option', header: 'option', align: 'left' }, { key: 'params', header: 'params M', fmt: fixed(3) }, { key: 'nodes', header: 'nodes (32px)' },
      { key: 'ms_b1', header: '32px b1 ms', fmt: fixed(2) }, { key: 'x_b1', header: 'ratio', fmt: ratio },
      { key: 'ms_b16', header: '32px b16 ms', fmt: fixed(1) }, { key: 'x_b16', header: 'ratio', fmt: ratio },
      { key: 'ms_px128', header: '128px b1 ms', fmt: fixed(1) }, { key: 'x_px128', header: 'ratio', fmt: ratio },
    ],
    rows: out,
    notes: [
      'pad_tokens 3 scans (g+3)^2 tokens: 121 instead of 64 at 32 px (8 x 8 grid), 1225 instead of 1024 at 128 px.',
      'Each model timed twice (forward, then reverse order); the faster median is shown.',
    ],
  };
}
