// LiquidFlow for Node: load a .onnx exported by liquidflow-export, generate images with Euler or Heun sampling.
// The session lives in a worker thread, so generating never blocks the caller's event loop.
import { Worker } from 'node:worker_threads';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type GenerateOptions, type ModelConfig, readLiquidFlowInfo, reviveError, SamplingAbortedError, toImages } from '@liquidflow/core';
import type { FromWorker, NodeDevice, ToWorker } from './protocol.js';

export interface LoadOptions {
  /** 'auto' (CUDA if its provider loads, else CPU), 'cpu' or 'cuda'. Default 'auto'. */
  device?: NodeDevice;
  /** ORT intra-op threads (default: ORT's choice). */
  threads?: number;
}

export type { GenerateOptions } from '@liquidflow/core';

export interface GeneratedImage {
  width: number;
  height: number;
  /** RGBA bytes, row-major. */
  data: Uint8ClampedArray;
  /** RGB floats in [0, 1], row-major HWC. */
  rgb: Float32Array;
}

function workerPath(): string {
  // The built worker sits beside this module: worker.js for ESM, worker.cjs for CommonJS.
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith('.cjs') ? './worker.cjs' : './worker.js', here));
}

export class LiquidFlow {
  private nextId = 1;
  private readonly jobs = new Map<number, (m: FromWorker) => void>();

  private constructor(
    private readonly worker: Worker,
    readonly path: string,
    readonly config: ModelConfig,
    /** The execution provider running the model. */
    readonly device: 'cpu' | 'cuda',
    /** Why that provider was chosen. */
    readonly deviceReason: string,
  ) {
    worker.on('message', (m: FromWorker) => {
      if ('id' in m) this.jobs.get(m.id)?.(m);
    });
  }

  static async load(path: string, options: LoadOptions = {}): Promise<LiquidFlow> {
    try {
      if (!(await stat(path)).isFile()) throw new Error(`${path}: not a file`);
    } catch (e) {
      throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${path}: model file not found` : (e as Error).message);
    }
    // Check the file here first, so a wrong or truncated file fails with a clear message and no worker.
    const info = readLiquidFlowInfo(new Uint8Array(await readFile(path)), path);
    const worker = new Worker(workerPath());
    const ready = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ type: 'init', path, device: options.device ?? 'auto', threads: options.threads } satisfies ToWorker);
    });
    if (ready.type !== 'ready') {
      await worker.terminate();
      throw ready.type === 'init-error' ? reviveError(ready.name, ready.message) : new Error(`unexpected worker reply ${ready.type}`);
    }
    return new LiquidFlow(worker, path, info.config, ready.device, ready.reason);
  }

  /** Generates `count` images; resolves to one RGBA image per sample. */
  async generate(options: GenerateOptions = {}): Promise<GeneratedImage[]> {
    const count = options.count ?? 1;
    if (options.signal?.aborted) throw new SamplingAbortedError();
    const id = this.nextId++;
    const cancel = new SharedArrayBuffer(4);
    const onAbort = () => Atomics.store(new Int32Array(cancel), 0, 1);
    options.signal?.addEventListener('abort', onAbort);
    try {
      const x = await new Promise<Float32Array>((resolve, reject) => {
        this.jobs.set(id, (m) => {
          if (m.type === 'progress') options.onProgress?.({ step: m.step, total: m.total, elapsed: m.elapsed, preview: m.preview });
          else if (m.type === 'done') resolve(m.x);
          else if (m.type === 'error') reject(m.aborted ? new SamplingAbortedError() : reviveError(m.name, m.message));
        });
        this.worker.postMessage({
          type: 'generate', id, count, steps: options.steps, sampler: options.sampler, seed: options.seed,
          preview: options.preview ?? false, cancel,
        } satisfies ToWorker);
      });
      const { in_channels, img_size } = this.config;
      return toImages(x, count, in_channels, img_size).map(({ width, height, data, rgb }) => ({ width, height, data, rgb }));
    } finally {
      this.jobs.delete(id);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async dispose(): Promise<void> {
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
