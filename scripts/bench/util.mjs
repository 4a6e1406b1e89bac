// Shared helpers for scripts/bench.mjs sections: timing, statistics and fixed-width tables.
import { performance } from 'node:perf_hooks';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Time an async function: `warmup` untimed calls, then timed calls until at least `minRuns` have run and `budgetMs`
 * has passed, or `maxRuns` have run. `plan(warmupMs)` may return { minRuns, maxRuns, budgetMs } chosen from the
 * slowest warm-up (to cut repetitions on slow cases). Returns the samples (ms), their median and min, and the
 * last result of fn.
 */
export async function timeIt(fn, { warmup = 1, minRuns = 5, maxRuns = 30, budgetMs = 2000, plan } = {}) {
  let last;
  let warmupMs = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    last = await fn();
    warmupMs = Math.max(warmupMs, performance.now() - t0);
  }
  if (plan) ({ minRuns, maxRuns, budgetMs } = { minRuns, maxRuns, budgetMs, ...plan(warmupMs) });
  const samples = [];
  const start = performance.now();
  while (samples.length < maxRuns && (samples.length < minRuns || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    last = await fn();
    samples.push(performance.now() - t0);
  }
  return { samples, median: median(samples), min: Math.min(...samples), warmupMs, result: last };
}

export const fixed = (digits) => (v) => (v === undefined || v === null || Number.isNaN(v) ? '-' : v.toFixed(digits));
export const sci = (v) => (v === undefined || v === null ? '-' : v.toExponential(1));

/**
 * A fixed-width table. columns: [{ key, header, fmt?, align? ('left' | 'right', default right) }]; rows: objects.
 */
export function formatTable(columns, rows) {
  const cells = rows.map((r) => columns.map((c) => (c.fmt ? c.fmt(r[c.key], r) : String(r[c.key] ?? '-'))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const pad = (s, i) => (columns[i].align === 'left' ? s.padEnd(widths[i]) : s.padStart(widths[i]));
  const line = (row) => row.map(pad).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Progress lines go to stderr so stdout holds only the report. */
export const progress = (msg) => process.stderr.write(`  .. ${msg}\n`);
