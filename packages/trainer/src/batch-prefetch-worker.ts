// The batch prefetch worker (started by batch-prefetch.ts): builds the batch of each step it is asked for with
// makeBatch, from dataset pixels shared with the main thread, and hands the batch's buffers over without a copy.
import { parentPort, workerData } from 'node:worker_threads';
import { makeBatch } from './batches.js';
import type { PrefetchReply, PrefetchRequest, PrefetchSetup } from './batch-prefetch.js';

if (!parentPort) throw new Error('batch-prefetch-worker must run in a worker thread');
const port = parentPort;
const { dataset, seed, batchSize, flip } = workerData as PrefetchSetup;

port.on('message', ({ step }: PrefetchRequest) => {
  let reply: PrefetchReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const batch = makeBatch(dataset, seed, step, batchSize, flip);
    reply = { step, batch };
    transfer = [batch.x0.buffer, batch.noise.buffer, batch.t.buffer] as ArrayBuffer[];
  } catch (e) {
    reply = { step, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(reply, transfer);
});
