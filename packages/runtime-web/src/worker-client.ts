// LiquidFlow off the main thread: the same load/generate API, with the session in a module worker (dist/worker.js).
import { type DtypeOption, type ModelConfig, type LiquidFlowModelInfo, type ModelDtype, reviveError, SamplingAbortedError } from '@liquidflow/core';
import type { WebDevice } from './devices.js';
import { latentsToImageData } from './images.js';
import type { GenerateOptions } from './liquidflow.js';
import type { FetchModelOptions, ModelSource, ProgressCallback } from './model-source.js';
import { resolveOrtUrl } from './ort.js';
import type { FromWorker, ReadyMessage, ToWorker } from './protocol.js';

export interface WorkerLoadOptions extends Pick<FetchModelOptions, 'stallTimeoutMs' | 'maxBytes' | 'expectedBytes'> {
  device?: WebDevice;
  /** As LiquidFlow.load's dtype. */
  dtype?: DtypeOption;
  progress_callback?: ProgressCallback;
  cache?: boolean;
  wasmPaths?: string | { wasm?: string; mjs?: string };
  threads?: number;
  /** On WebGPU, keep the latents on the GPU between steps (default true). */
  gpuLatents?: boolean;
  /** The worker: a Worker you started, or the URL of runtime-web's dist/worker.js (default: beside this module). */
  worker?: Worker | string | URL;
  /**
   * URL of onnxruntime-web's ESM file for the worker (import maps do not apply inside workers). Default: what the
   * page's import map resolves 'onnxruntime-web' to; without one (a bundler), the worker imports 'onnxruntime-web'.
   */
  ortUrl?: string | URL;
}

const abs = (u: string | URL) => new URL(String(u), typeof location !== 'undefined' ? location.href : undefined).href;

export class WorkerLiquidFlow {
  private nextId = 1;
  private readonly jobs = new Map<number, (m: FromWorker) => void>();
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly ready: ReadyMessage,
  ) {
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
  get latentsOnGpu(): boolean { return this.ready.latentsOnGpu; }
  get source(): 'network' | 'cache' | 'bytes' { return this.ready.source; }
  get cacheStatus(): string { return this.ready.cacheStatus; }

  static async load(model: ModelSource, o: WorkerLoadOptions = {}): Promise<WorkerLiquidFlow> {
    const worker =
      o.worker && typeof o.worker === 'object' && !(o.worker instanceof URL)
        ? o.worker
        : new Worker(o.worker ? abs(o.worker) : new URL('./worker.js', import.meta.url), { type: 'module' });
    let payload: string | ArrayBuffer;
    if (typeof model === 'string' || model instanceof URL) payload = abs(model);
    else if (model instanceof ArrayBuffer) payload = model;
    else if (model instanceof Uint8Array) payload = model.slice().buffer as ArrayBuffer;
    else payload = await (model as Blob).arrayBuffer();
    const ortUrl = o.ortUrl ? abs(o.ortUrl) : resolveOrtUrl();
    const wasmPaths = typeof o.wasmPaths === 'string' ? abs(o.wasmPaths) : o.wasmPaths;
    const ready = await new Promise<ReadyMessage>((resolve, reject) => {
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
      const onError = (e: ErrorEvent) => reject(new Error(`worker failed to start: ${e.message || 'script error (is the worker URL right?)'}`));
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
      worker.postMessage(
        { type: 'init', model: payload, device: o.device ?? 'auto', dtype: o.dtype, cache: o.cache, wasmPaths,
          stallTimeoutMs: o.stallTimeoutMs, maxBytes: o.maxBytes, expectedBytes: o.expectedBytes, threads: o.threads, gpuLatents: o.gpuLatents, ortUrl } satisfies ToWorker,
        typeof payload === 'string' ? [] : [payload],
      );
    }).catch((e) => {
      worker.terminate();
      throw e;
    });
    return new WorkerLiquidFlow(worker, ready);
  }

  /** Samples in the worker; resolves to x0 [count, C, H, W] in model space. */
  async sampleLatents(options: GenerateOptions = {}): Promise<Float32Array> {
    if (this.closed) throw new Error('this LiquidFlow was disposed');
    if (options.signal?.aborted) throw new SamplingAbortedError();
    const id = this.nextId++;
    const onAbort = () => this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
    options.signal?.addEventListener('abort', onAbort);
    try {
      return await new Promise<Float32Array>((resolve, reject) => {
        this.jobs.set(id, (m) => {
          if (m.type === 'progress') options.onProgress?.({ step: m.step, total: m.total, elapsed: m.elapsed, preview: m.preview });
          else if (m.type === 'done') resolve(m.x);
          else if (m.type === 'error') reject(m.aborted ? new SamplingAbortedError() : reviveError(m.name, m.message));
        });
        this.worker.postMessage({
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
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
        if (e.data.type === 'closed') {
          clearTimeout(timer);
          resolve();
        }
      });
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    this.worker.terminate();
  }
}

/** Loads a model in a module worker; the result has LiquidFlow's API (generate, device, deviceReason, dispose). */
export function createWorkerLiquidFlow(model: ModelSource, options: WorkerLoadOptions = {}): Promise<WorkerLiquidFlow> {
  return WorkerLiquidFlow.load(model, options);
}
