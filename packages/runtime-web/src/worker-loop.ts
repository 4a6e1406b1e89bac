// The message loop of createWorkerLiquidFlow()'s module worker, which owns the ORT session, so sampling (and WASM's CPU
// work) never blocks the page. Two entries run it: worker.ts (no bundler: ORT imported from the URL the page sends)
// and bundler-worker.ts (ORT bundled in).
import { SamplingAbortedError } from '@liquidflow/core';
import { LiquidFlow } from './liquidflow.js';
import type { OrtOptions } from './ort.js';
import { isOrtThreadWorker } from './ort-threads.js';
import type { FromWorker, GenerateMessage, InitMessage, ToWorker } from './protocol.js';

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<ToWorker>) => void): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

let lf: LiquidFlow | null = null;
let loading: Promise<void> | null = null;
const jobs = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

async function generate(msg: GenerateMessage): Promise<void> {
  const controller = jobs.get(msg.id) as AbortController;
  try {
    if (!lf) throw new Error('the worker has no model loaded');
    const x = await lf.sampleLatents({
      count: msg.count, steps: msg.steps, sampler: msg.sampler, seed: msg.seed, preview: msg.preview, signal: controller.signal,
      onProgress: (p) => post({ type: 'progress', id: msg.id, ...p }, p.preview ? [p.preview.buffer as ArrayBuffer] : []),
    });
    post({ type: 'done', id: msg.id, x }, [x.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', id: msg.id, message: (e as Error).message, name: (e as Error).name, aborted: e instanceof SamplingAbortedError });
  } finally {
    jobs.delete(msg.id);
  }
}

/**
 * Answers the page's messages; `ortOptions` gives the ORT builds to load with from the URLs the page sent (worker.ts),
 * else the entry's setOrtImports applies. Bundled with ORT, the worker's file is also the script of ORT's thread
 * workers (its static ORT import makes those threads): there it answers nothing.
 */
export function serveWorker(ortOptions: (m: InitMessage) => OrtOptions = () => ({})): void {
  if (isOrtThreadWorker()) return;
  scope.addEventListener('message', (e) => {
    const msg = e.data;
    if (msg.type === 'ping') {
      post({ type: 'started' });
    } else if (msg.type === 'init') {
      loading = (async () => {
        try {
          lf = await LiquidFlow.load(msg.model, {
            device: msg.device, dtype: msg.dtype, cache: msg.cache, stallTimeoutMs: msg.stallTimeoutMs, maxBytes: msg.maxBytes, expectedBytes: msg.expectedBytes,
            wasmPaths: msg.wasmPaths, threads: msg.threads, threadStartTimeoutMs: msg.threadStartTimeoutMs, threadsReason: msg.threadsReason,
            gpuLatents: msg.gpuLatents, ...ortOptions(msg),
            progress_callback: (event) => post({ type: 'load-progress', event }),
          });
          post({
            type: 'ready', url: lf.url, info: lf.info, device: lf.device, reason: lf.deviceReason, dtype: lf.dtype, dtypeReason: lf.dtypeReason, threads: lf.threads, threadsReason: lf.threadsReason, latentsOnGpu: lf.latentsOnGpu,
            source: lf.source, cacheStatus: lf.cacheStatus,
          });
        } catch (err) {
          post({ type: 'init-error', message: (err as Error).message, name: (err as Error).name });
        }
      })();
    } else if (msg.type === 'generate') {
      // Cancel messages are handled as they arrive (between model calls); generate jobs run one after another.
      jobs.set(msg.id, new AbortController());
      queue = queue.then(() => loading).then(() => generate(msg));
    } else if (msg.type === 'cancel') {
      jobs.get(msg.id)?.abort();
    } else if (msg.type === 'close') {
      void (async () => {
        await queue;
        await lf?.dispose().catch(() => {});
        post({ type: 'closed' });
        scope.close();
      })();
    }
  });
}
