// Batch prefetch: batches built ahead in a worker thread are exactly makeBatch's (across an epoch boundary, from a
// resumed step, at any depth); a failure in the worker rejects with a clear error; close() ends the worker, so a
// process that closed its source exits by itself (from the sources, the ESM build and the CommonJS build).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Batch, makeBatch } from '../src/batches.js';
import { BatchPrefetchError, openBatchSource, withSharedPixels } from '../src/batch-prefetch.js';
import type { ImageDataset } from '../src/datasets/dataset.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

/** 10 images of 4x4: with batch 3, step 3 takes images 9, 10 and 11 of the shuffled stream, so it spans epochs 0 and 1. */
function tinyDataset(): ImageDataset {
  const size = 4;
  const count = 10;
  return { name: 'tiny', source: 'test', size, count, pixels: Uint8Array.from({ length: count * size * size * 3 }, (_, i) => (i * 37) % 256) };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameBatch(got: Batch, want: Batch, step: number) {
  expect(got.epoch, `step ${step}: epoch`).toBe(want.epoch);
  for (const k of ['x0', 'noise', 't'] as const) expect(bytes(got[k]).equals(bytes(want[k])), `step ${step}: ${k}`).toBe(true);
}

describe('batch prefetch', () => {
  it.each([2, 1, 0])('depth %i: the batches of steps 0..7 equal makeBatch bit for bit (epoch boundary at step 3)', async (depth) => {
    const ds = tinyDataset();
    const source = openBatchSource(ds, { seed: 7, batchSize: 3, flip: true, depth });
    try {
      const epochs = new Set<number>();
      for (let step = 0; step < 8; step++) {
        const batch = await source.take(step);
        expectSameBatch(batch, makeBatch(ds, 7, step, 3, true), step);
        epochs.add(batch.epoch);
      }
      expect([...epochs]).toEqual([0, 1, 2]);
    } finally {
      await source.close();
    }
  });

  it('starts at any step (a resumed run) and shares the pixels instead of copying them per batch', async () => {
    const ds = withSharedPixels(tinyDataset());
    expect(ds.pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(withSharedPixels(ds)).toBe(ds);
    const source = openBatchSource(ds, { seed: 1, batchSize: 4, flip: false, depth: 2 });
    try {
      for (let step = 5; step < 9; step++) expectSameBatch(await source.take(step), makeBatch(ds, 1, step, 4, false), step);
    } finally {
      await source.close();
    }
  });

  it('a batch that fails in the worker rejects with the step and the cause', async () => {
    // A negative batch size makes makeBatch itself throw (RangeError: invalid typed array length), inside the worker.
    const source = openBatchSource(tinyDataset(), { seed: 0, batchSize: -1, flip: true, depth: 1 });
    try {
      const failed = source.take(0);
      await expect(failed).rejects.toBeInstanceOf(BatchPrefetchError);
      await expect(failed).rejects.toThrow(/building the batch of step 0 in the prefetch worker failed: RangeError/);
    } finally {
      await source.close();
    }
  });

  it('a worker that cannot start rejects with a clear error', async () => {
    // A function in the dataset cannot be sent to a thread.
    const unsendable = { ...tinyDataset(), decode: () => 0 } as ImageDataset;
    const source = openBatchSource(unsendable, { seed: 0, batchSize: 2, flip: true, depth: 1 });
    try {
      await expect(source.take(0)).rejects.toThrow(/the batch prefetch worker could not start: .*could not be cloned.*--prefetch 0/s);
      await expect(source.take(1)).rejects.toThrow(/could not start/);
    } finally {
      await source.close();
    }
  });

  it('after close(), take() rejects instead of waiting forever', async () => {
    const source = openBatchSource(tinyDataset(), { seed: 0, batchSize: 2, flip: true, depth: 2 });
    await source.take(0);
    await source.close();
    await expect(source.take(1)).rejects.toThrow(/the batch prefetch worker was closed/);
  });

  it('refuses a depth that is not a non-negative integer', () => {
    expect(() => openBatchSource(tinyDataset(), { seed: 0, batchSize: 2, flip: true, depth: -1 })).toThrow(/non-negative integer, got -1/);
  });
});

describe('batch prefetch in a child process: the worker entry is found, and close() lets the process exit', () => {
  let tmp: string;
  let script: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'liquidflow-prefetch-'));
    script = join(tmp, 'prefetch.mjs');
    // No process.exit at the end: a worker left running would keep the process alive past spawnSync's timeout.
    await writeFile(script, `
const [prefetchModule, batchesModule] = process.argv.slice(2);
const { openBatchSource } = await import(prefetchModule);
const { makeBatch } = await import(batchesModule);
const ds = { name: 'tiny', source: 'test', size: 4, count: 10, pixels: Uint8Array.from({ length: 480 }, (_, i) => (i * 37) % 256) };
const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const source = openBatchSource(ds, { seed: 3, batchSize: 3, flip: true, depth: 2 });
for (let step = 0; step < 6; step++) {
  const got = await source.take(step);
  const want = makeBatch(ds, 3, step, 3, true);
  for (const k of ['x0', 'noise', 't']) if (!bytes(got[k]).equals(bytes(want[k]))) throw new Error('step ' + step + ': ' + k + ' differs');
}
await source.close();
console.log('ok');
`);
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const src = (f: string) => pathToFileURL(join(repo, 'packages/trainer/src', f)).href;
  const dist = (f: string) => pathToFileURL(join(repo, 'packages/trainer/dist', f)).href;
  it.each([
    ['the sources (tsx)', ['--import', 'tsx'], src('batch-prefetch.ts'), src('batches.ts')],
    ['the ESM build', [], dist('index.js'), dist('index.js')],
    ['the CommonJS build', [], dist('index.cjs'), dist('index.cjs')],
  ])('%s', (_what, nodeFlags, prefetchModule, batchesModule) => {
    if (prefetchModule.includes('/dist/')) expect(existsSync(fileURLToPath(prefetchModule)), `${prefetchModule} is missing: run npm run build`).toBe(true);
    const r = spawnSync(process.execPath, [...nodeFlags, script, prefetchModule, batchesModule], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr + r.stdout).toContain('ok');
    expect(r.signal, 'still running at the timeout: the worker kept the process alive').toBeNull();
    expect(r.status).toBe(0);
  });
});
