// LiquidFlow off the main thread: the same load/generate API, with the session in a module worker (dist/worker.js).
import { type DtypeOption, type ModelConfig, type LiquidFlowModelInfo, type ModelDtype, reviveError, SamplingAbortedError } from '@liquidflow/core';
import { type WebDevice, ortBuildFor, probeWebGpu } from './devices.js';
import { latentsToImageData } from './images.js';
import { type GenerateOptions, LiquidFlow } from './liquidflow.js';
import type { FetchModelOptions, ModelSource, ProgressCallback } from './model-source.js';
import { resolveOrtUrl } from './ort.js';
import { HINT_SEPARATOR, isOrtThreadWorker, never } from './ort-threads.js';
import type { FromWorker, ReadyMessage, ToWorker } from './protocol.js';

export interface WorkerLoadOptions extends Pick<FetchModelOptions, 'stallTimeoutMs' | 'maxBytes' | 'expectedBytes'> {
  device?: WebDevice;
  /** As LiquidFlow.load's dtype. */
  dtype?: DtypeOption;
  progress_callback?: ProgressCallback;
  cache?: boolean;
  wasmPaths?: string | { wasm?: string; mjs?: string };
  threads?: number;
  /** As LiquidFlow.load's: here a thread start-up that fails restarts the worker with 1 thread (see threadsReason). */
  threadStartTimeoutMs?: number;
  /** On WebGPU, keep the latents on the GPU between steps (default true). */
  gpuLatents?: boolean;
  /** The worker: a Worker you started, or the URL of runtime-web's dist/worker.js (default: beside this module). */
  worker?: Worker | string | URL;
  /** How long the worker may take to load and answer (default 30000 ms); past it, or on its error, the model runs on the main thread. */
  workerStartTimeoutMs?: number;
  /**
   * URL of onnxruntime-web's ESM file for the worker (import maps do not apply inside workers). Default: what the
   * page's import map resolves 'onnxruntime-web' to; without one (a bundler), the worker bundles ORT.
   */
  ortUrl?: string | URL;
  /** As ortUrl, for ORT's wasm build ('onnxruntime-web/wasm', what sessions on WASM run on). */
  ortWasmUrl?: string | URL;
}

const abs = (u: string | URL) => new URL(String(u), typeof location !== 'undefined' ? location.href : undefined).href;

export class WorkerLiquidFlow {
  private nextId = 1;
  private readonly jobs = new Map<number, (m: FromWorker) => void>();
  private closed = false;

  private constructor(
    private readonly worker: Worker | null,
    private readonly ready: Omit<ReadyMessage, 'type'>,
    /** Where the model runs when the worker could not start. */
    private readonly inPage: LiquidFlow | null,
    /** Why the model runs in a worker or on the main thread. */
    readonly workerReason: string,
  ) {
    if (!worker) return;
    worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if ('id' in m) this.jobs.get(m.id)?.(m);
    });
    worker.addEventListener('error', (e) => {
      for (const job of this.jobs.values()) job({ type: 'error', id: 0, message: `worker error: ${e.message}`, name: 'Error', aborted: false });
    });
  }

  get url(): string { return this.ready.url; }
  get info(): LiquidFlowModelInfo { return this.ready.info; }
  get config(): ModelConfig { return this.ready.info.config; }
  get device(): 'webgpu' | 'wasm' { return this.ready.device; }
  get deviceReason(): string { return this.ready.reason; }
  get dtype(): ModelDtype { return this.ready.dtype; }
  get dtypeReason(): string { return this.ready.dtypeReason; }
  get threads(): number { return this.ready.threads; }
  /** Why `threads` (as LiquidFlow's; also says when the worker was restarted with 1 thread because threads failed to start). */
  get threadsReason(): string { return this.ready.threadsReason; }
  /** Whether the model runs in the worker (false: it could not start, see workerReason). */
  get inWorker(): boolean { return this.worker !== null; }
  get latentsOnGpu(): boolean { return this.ready.latentsOnGpu; }
  get source(): 'network' | 'cache' | 'bytes' { return this.ready.source; }
  get cacheStatus(): string { return this.ready.cacheStatus; }

  static async load(model: ModelSource, o: WorkerLoadOptions = {}): Promise<WorkerLiquidFlow> {
    // In one of ORT's thread workers running the page's bundle, the page's own code calls this too: it must start nothing.
    if (isOrtThreadWorker()) return never();
    let payload: string | ArrayBuffer;
    if (typeof model === 'string' || model instanceof URL) payload = abs(model);
    else if (model instanceof ArrayBuffer) payload = model;
    else if (model instanceof Uint8Array) payload = model.slice().buffer as ArrayBuffer;
    else payload = await (model as Blob).arrayBuffer();
    const timeout = o.workerStartTimeoutMs ?? DEFAULT_WORKER_START_TIMEOUT_MS;
    const started = await startWorker(o, timeout);
    if ('why' in started) {
      const workerReason = `the worker did not start (${started.why}): running on the main thread`;
      console.warn(`@liquidflow/runtime-web: ${workerReason}. See the README's "Bundlers" section.`);
      const lf = await LiquidFlow.load(payload, {
        device: o.device, dtype: o.dtype, cache: o.cache, stallTimeoutMs: o.stallTimeoutMs, maxBytes: o.maxBytes, expectedBytes: o.expectedBytes,
        wasmPaths: o.wasmPaths, threads: o.threads, threadStartTimeoutMs: o.threadStartTimeoutMs, gpuLatents: o.gpuLatents,
        progress_callback: o.progress_callback, ...(o.ortUrl ? { ort: abs(o.ortUrl) } : {}), ...(o.ortWasmUrl ? { ortWasm: abs(o.ortWasmUrl) } : {}),
      });
      const ready = {
        url: lf.url, info: lf.info, device: lf.device, reason: lf.deviceReason, dtype: lf.dtype, dtypeReason: lf.dtypeReason, threads: lf.threads,
        threadsReason: lf.threadsReason, latentsOnGpu: lf.latentsOnGpu, source: lf.source, cacheStatus: lf.cacheStatus,
      };
      return new WorkerLiquidFlow(null, ready, lf, workerReason);
    }
    // Threads that fail to start (ThreadStartError) leave ORT stuck in that worker: a fresh worker runs 1 thread (not
    // for a Worker object the page gave: it cannot be started again). The bytes are then needed twice, so they are
    // copied rather than transferred.
    const ownWorker = !(o.worker && typeof o.worker === 'object' && !(o.worker instanceof URL));
    const mayRetry = ownWorker && o.threads !== 1 && typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
    try {
      const ready = await initWorker(started.worker, payload, o, mayRetry);
      return new WorkerLiquidFlow(started.worker, ready, null, 'in a worker');
    } catch (e) {
      started.worker.terminate();
      if ((e as Error).name !== 'ThreadStartError' || !mayRetry) throw e;
      const threadsReason = `${(e as Error).message.split(HINT_SEPARATOR)[0]}: fell back to 1 thread`;
      console.warn(`@liquidflow/runtime-web: ${threadsReason}`);
      const again = await startWorker(o, timeout);
      if ('why' in again) throw new Error(`the worker, restarted with 1 thread, did not start: ${again.why}`);
      try {
        const ready = await initWorker(again.worker, payload, { ...o, threads: 1 }, false, threadsReason);
        return new WorkerLiquidFlow(again.worker, ready, null, 'in a worker');
      } catch (e2) {
        again.worker.terminate();
        throw e2;
      }
    }
  }

  /** Samples in the worker; resolves to x0 [count, C, H, W] in model space. */
  async sampleLatents(options: GenerateOptions = {}): Promise<Float32Array> {
    if (this.closed) throw new Error('this LiquidFlow was disposed');
    if (!this.worker) return (this.inPage as LiquidFlow).sampleLatents(options);
    const worker = this.worker;
    if (options.signal?.aborted) throw new SamplingAbortedError();
    const id = this.nextId++;
    const onAbort = () => worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
    options.signal?.addEventListener('abort', onAbort);
    try {
      return await new Promise<Float32Array>((resolve, reject) => {
        this.jobs.set(id, (m) => {
          if (m.type === 'progress') options.onProgress?.({ step: m.step, total: m.total, elapsed: m.elapsed, preview: m.preview });
          else if (m.type === 'done') resolve(m.x);
          else if (m.type === 'error') reject(m.aborted ? new SamplingAbortedError() : reviveError(m.name, m.message));
        });
        worker.postMessage({
          type: 'generate', id, count: options.count ?? 1, steps: options.steps, sampler: options.sampler, seed: options.seed,
          preview: options.preview ?? false,
        } satisfies ToWorker);
      });
    } finally {
      this.jobs.delete(id);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Generates in the worker; resolves to one ImageData per image. */
  async generate(options: GenerateOptions = {}): Promise<ImageData[]> {
    const x = await this.sampleLatents(options);
    return latentsToImageData(x, options.count ?? 1, this.config.in_channels, this.config.img_size);
  }

  /** Releases the session and ends the worker. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.worker) return this.inPage?.dispose();
    const worker = this.worker;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
        if (e.data.type === 'closed') {
          clearTimeout(timer);
          resolve();
        }
      });
      worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    worker.terminate();
  }
}

/** Loads a model in a module worker; the result has LiquidFlow's API (generate, device, deviceReason, dispose). */
export function createWorkerLiquidFlow(model: ModelSource, options: WorkerLoadOptions = {}): Promise<WorkerLiquidFlow> {
  return WorkerLiquidFlow.load(model, options);
}

export const DEFAULT_WORKER_START_TIMEOUT_MS = 30_000;
const NO_BUNDLER_WORKER = './worker.js';

/**
 * Starts the worker and waits for its answer to a ping: a worker whose script is missing, cannot load its imports
 * (e.g. a bundler inlined it as a data: URL) or never answers is reported with why, not waited on.
 */
async function startWorker(o: WorkerLoadOptions, timeoutMs: number): Promise<{ worker: Worker } | { why: string }> {
  const ortUrl = o.ortUrl ?? resolveOrtUrl('webgpu');
  let worker: Worker;
  try {
    if (o.worker && typeof o.worker === 'object' && !(o.worker instanceof URL)) worker = o.worker;
    else if (o.worker) worker = new Worker(abs(o.worker), { type: 'module' });
    // No bundler (an import map gave ORT's URL): worker.js, which imports ORT from that URL. The file name is a
    // variable so that bundlers leave this URL alone (vite would inline the file as a data: URL that cannot import);
    // webpack would still try it as a context module (a "Critical dependency" warning in every app): the comment stops it.
    else if (ortUrl) worker = new Worker(new URL(/* webpackIgnore: true */ NO_BUNDLER_WORKER, import.meta.url), { type: 'module' });
    // A bundler: this exact form (a literal path in new URL(..., import.meta.url) inside new Worker) is what vite and
    // webpack recognize: they bundle each worker file, with its ORT build, as a worker of its own and rewrite the URL.
    // The device picks the file (the probe is the page's; the worker repeats it), so the worker loads one ORT build.
    else if (ortBuildFor(o.device ?? 'auto', o.device && o.device !== 'auto' ? undefined : await probeWebGpu()) === 'wasm') {
      worker = new Worker(new URL('./bundler-worker-wasm.js', import.meta.url), { type: 'module' });
    } else worker = new Worker(new URL('./bundler-worker.js', import.meta.url), { type: 'module' });
  } catch (e) {
    return { why: `new Worker failed: ${(e as Error).message}` };
  }
  const answer = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    const onMessage = (e: MessageEvent<FromWorker>) => {
      if (e.data?.type === 'started') done(null);
    };
    const onError = (e: ErrorEvent) => done(`script error${e.message ? `: ${e.message}` : ''}; is its URL right and are its imports resolvable?`);
    const onMessageError = () => done('could not read its messages');
    function done(why: string | null) {
      clearTimeout(timer);
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
      worker.removeEventListener('messageerror', onMessageError);
      resolve(why);
    }
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    worker.addEventListener('messageerror', onMessageError);
    worker.postMessage({ type: 'ping' } satisfies ToWorker);
  });
  if (answer === null) return { worker };
  worker.terminate();
  return { why: answer };
}

/** Loads the model in a started worker; resolves to its 'ready' message or rejects with its error. */
function initWorker(worker: Worker, payload: string | ArrayBuffer, o: WorkerLoadOptions, keepBytes: boolean, threadsReason?: string): Promise<ReadyMessage> {
  const ortUrl = o.ortUrl ? abs(o.ortUrl) : resolveOrtUrl('webgpu');
  const ortWasmUrl = o.ortWasmUrl ? abs(o.ortWasmUrl) : resolveOrtUrl('wasm');
  const wasmPaths = typeof o.wasmPaths === 'string' ? abs(o.wasmPaths) : o.wasmPaths;
  return new Promise<ReadyMessage>((resolve, reject) => {
    const onMessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === 'load-progress') o.progress_callback?.(m.event);
      else if (m.type === 'ready' || m.type === 'init-error') {
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
        if (m.type === 'ready') resolve(m);
        else {
          const err = reviveError(m.name, m.message);
          err.name = m.name;
          reject(err);
        }
      }
    };
    const onError = (e: ErrorEvent) => reject(new Error(`worker error while loading: ${e.message || 'script error'}`));
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    worker.postMessage(
      { type: 'init', model: payload, device: o.device ?? 'auto', dtype: o.dtype, cache: o.cache, wasmPaths,
        stallTimeoutMs: o.stallTimeoutMs, maxBytes: o.maxBytes, expectedBytes: o.expectedBytes, threads: o.threads,
        threadStartTimeoutMs: o.threadStartTimeoutMs, threadsReason, gpuLatents: o.gpuLatents, ortUrl, ortWasmUrl } satisfies ToWorker,
      typeof payload === 'string' || keepBytes ? [] : [payload],
    );
  });
}
