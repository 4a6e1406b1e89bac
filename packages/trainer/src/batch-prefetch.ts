// Batch prefetch: a worker thread builds the batches of the next steps while the current step trains, so a fast
// (GPU) step never waits for a batch built on the main thread. Batches are a pure function of (dataset, seed, step,
// batch size, flip), so the worker runs the same makeBatch and a run draws bit-identical batches with or without it.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Batch, makeBatch } from './batches.js';
import type { ImageDataset } from './datasets/dataset.js';

export interface BatchSourceOptions {
  seed: number;
  batchSize: number;
  flip: boolean;
  /** How many steps ahead a worker thread builds batches; 0 builds each batch on the main thread when asked. */
  depth: number;
}

export interface BatchSource {
  /** The batch of `step`; steps ahead of it are built meanwhile. */
  take(step: number): Promise<Batch>;
  /** Stops the worker (no-op without one); always call it, or the worker keeps the process alive. */
  close(): Promise<void>;
}

/** What the worker starts with (workerData). */
export interface PrefetchSetup {
  dataset: ImageDataset;
  seed: number;
  batchSize: number;
  flip: boolean;
}
export interface PrefetchRequest {
  step: number;
}
export type PrefetchReply = { step: number; batch: Batch } | { step: number; error: string };

export class BatchPrefetchError extends Error {
  override name = 'BatchPrefetchError';
}

/**
 * The dataset with its pixels in a SharedArrayBuffer (copied once; returned as is when they already are), so the
 * worker reads the same memory instead of receiving a copy. Keep only the result to hold one copy of the pixels.
 */
export function withSharedPixels(ds: ImageDataset): ImageDataset {
  if (ds.pixels.buffer instanceof SharedArrayBuffer) return ds;
  const pixels = new Uint8Array(new SharedArrayBuffer(ds.pixels.byteLength));
  pixels.set(ds.pixels);
  return { ...ds, pixels };
}

/** Batches for a training run: built ahead in a worker thread (depth >= 1) or on demand on this thread (depth 0). */
export function openBatchSource(ds: ImageDataset, o: BatchSourceOptions): BatchSource {
  if (!Number.isInteger(o.depth) || o.depth < 0) throw new Error(`batch prefetch depth must be a non-negative integer, got ${o.depth}`);
  if (o.depth === 0) {
    return { take: async (step) => makeBatch(ds, o.seed, step, o.batchSize, o.flip), close: async () => {} };
  }
  return new WorkerBatchSource(ds, o);
}

function startWorker(setup: PrefetchSetup): Worker {
  // This module's file: __filename in both builds (tsup's shims in the ESM one) and under vitest; else import.meta.url.
  const here = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    // Running from the sources (vitest): tsx compiles the worker entry and what it imports, in the worker itself
    // (Node 20 does not apply loader hooks passed in a worker's execArgv).
    const tsx = createRequire(here).resolve('tsx/cjs/api');
    const entry = join(dirname(here), 'batch-prefetch-worker.ts');
    return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, { eval: true, workerData: setup });
  }
  // The built worker sits beside this bundle (tsup entry): .cjs for the CommonJS build, .js for ESM.
  return new Worker(join(dirname(here), here.endsWith('.cjs') ? 'batch-prefetch-worker.cjs' : 'batch-prefetch-worker.js'), { workerData: setup });
}

const HINT = ' (--prefetch 0 builds the batches on the main thread)';

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

class WorkerBatchSource implements BatchSource {
  private readonly setup: PrefetchSetup;
  /** Started by the first take(): a run with nothing to train starts no thread. */
  private worker: Worker | undefined;
  /** Batches asked of the worker and not yet taken. */
  private readonly ahead = new Map<number, Promise<Batch>>();
  /** Requests the worker has not answered yet. */
  private readonly inFlight = new Map<number, Pending>();
  /** Set once the worker failed or was closed: every later take() rejects with it. */
  private stopped: Error | undefined;

  constructor(ds: ImageDataset, private readonly o: BatchSourceOptions) {
    this.setup = { dataset: withSharedPixels(ds), seed: o.seed, batchSize: o.batchSize, flip: o.flip };
  }

  take(step: number): Promise<Batch> {
    if (this.stopped) return Promise.reject(this.stopped);
    let worker = this.worker;
    if (!worker) {
      try {
        worker = this.worker = this.start();
      } catch (e) {
        this.stop(new BatchPrefetchError(`the batch prefetch worker could not start: ${(e as Error).message}${HINT}`));
        return Promise.reject(this.stopped);
      }
    }
    const batch = this.ahead.get(step) ?? this.request(worker, step);
    this.ahead.delete(step);
    // Asked for after this step's batch, so the worker builds the next ones while the caller trains on this one.
    for (let next = step + 1; next <= step + this.o.depth; next++) if (!this.ahead.has(next)) this.ahead.set(next, this.request(worker, next));
    return batch;
  }

  async close(): Promise<void> {
    this.stop(new BatchPrefetchError('the batch prefetch worker was closed'));
    await this.worker?.terminate();
  }

  private start(): Worker {
    const worker = startWorker(this.setup);
    worker.on('message', (m: PrefetchReply) => {
      const p = this.inFlight.get(m.step);
      if (!p) return;
      this.inFlight.delete(m.step);
      if ('error' in m) p.reject(new BatchPrefetchError(`building the batch of step ${m.step} in the prefetch worker failed: ${m.error}`));
      else p.resolve(m.batch);
    });
    worker.on('error', (e) => this.stop(new BatchPrefetchError(`the batch prefetch worker failed: ${e.stack ?? e.message}${HINT}`)));
    worker.on('exit', (code) => this.stop(new BatchPrefetchError(`the batch prefetch worker exited unexpectedly (exit code ${code})${HINT}`)));
    return worker;
  }

  private request(worker: Worker, step: number): Promise<Batch> {
    const batch = new Promise<Batch>((resolve, reject) => this.inFlight.set(step, { resolve, reject }));
    // A batch built ahead may fail before anyone awaits it: take() reports that, not an unhandled rejection.
    batch.catch(() => {});
    worker.postMessage({ step } satisfies PrefetchRequest);
    return batch;
  }

  /** The first reason wins (a close after a failure, or the exit that follows an error, keeps the failure). */
  private stop(reason: Error) {
    this.stopped ??= reason;
    for (const p of this.inFlight.values()) p.reject(this.stopped);
    this.inFlight.clear();
    this.ahead.clear();
  }
}
