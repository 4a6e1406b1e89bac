// LiquidFlow for Node: load a .onnx exported by liquidflow-export (from a file, a URL or bytes), generate images
// with Euler or Heun sampling. The session lives in a worker thread, so generating never blocks the caller's event loop.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import {
  type DtypeOption, type GenerateOptions, type ModelConfig, type LiquidFlowModelInfo, type ModelDtype, checkDtypeOption, checkFileDtype, modelFileName,
  readLiquidFlowInfo, reviveError, SamplingAbortedError, toImages,
} from '@liquidflow/core';
import type { FromWorker, NodeDevice, ToWorker } from './protocol.js';
import { type GeneratedImage, LiquidFlowImage } from './image.js';
import { type ModelSource, type ReadModelOptions, readModel } from './model-source.js';

export interface LoadOptions extends ReadModelOptions {
  /** 'auto' (CUDA if its provider loads, else CPU), 'cpu' or 'cuda'. Default 'auto'. */
  device?: NodeDevice;
  /** ORT intra-op threads (default: ORT's choice). */
  threads?: number;
  /**
   * The precision: 'fp32', 'fp16', 'q8', 'q4', or 'auto' (default; fp32 here: onnxruntime-node computes every dtype
   * in float32, so the smaller files only save disk and download). For a folder or a URL not ending in .onnx it picks
   * the file (model.onnx, model_fp16.onnx, ...); a file given by name must be that precision.
   */
  dtype?: DtypeOption;
}

export type { GenerateOptions } from '@liquidflow/core';
export type { GeneratedImage } from './image.js';

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
    /** The model's file path or URL ('model bytes' when it was given as bytes). */
    readonly path: string,
    /** Where the bytes came from. */
    readonly source: 'file' | 'network' | 'bytes',
    readonly info: LiquidFlowModelInfo,
    /** The execution provider running the model. */
    readonly device: 'cpu' | 'cuda',
    /** Why that provider was chosen. */
    readonly deviceReason: string,
    /** The precision of the loaded file. */
    readonly dtype: ModelDtype,
    /** Why that precision ('requested', or what 'auto' picked and why). */
    readonly dtypeReason: string,
  ) {
    worker.on('message', (m: FromWorker) => {
      if ('id' in m) this.jobs.get(m.id)?.(m);
    });
  }

  get config(): ModelConfig {
    return this.info.config;
  }

  /**
   * Loads a LiquidFlow .onnx from a file path, an http(s) or file: URL, or its bytes (Uint8Array, ArrayBuffer, Blob),
   * checks it, and opens it on a device in a worker thread.
   */
  static async load(model: ModelSource, options: LoadOptions = {}): Promise<LiquidFlow> {
    const requested = checkDtypeOption(options.dtype);
    const got = await readModel(model, options, requested === 'auto' ? 'fp32' : requested);
    // Check the bytes here first, so a wrong or truncated file fails with a clear message and no worker.
    const info = readLiquidFlowInfo(got.bytes, got.name);
    const dtype = checkFileDtype(info.metadata, requested, got.name);
    const dtypeReason = requested !== 'auto' ? 'requested' : dtype === 'fp32' ? 'auto: fp32 (onnxruntime-node computes in float32; smaller dtypes only save disk)' : `auto: the file given is ${dtype}`;
    // The worker gets its own buffer: ours is handed over; the caller's bytes (or a view into a larger buffer) are
    // copied, so theirs stay usable and only the model's bytes cross.
    const whole = got.bytes.byteOffset === 0 && got.bytes.byteLength === got.bytes.buffer.byteLength && got.bytes.buffer instanceof ArrayBuffer;
    const bytes = got.owned && whole ? got.bytes : new Uint8Array(got.bytes); // a copy even of a Buffer, whose slice() is a view
    const worker = new Worker(workerPath());
    const ready = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      const init: ToWorker = { type: 'init', bytes, name: got.name, config: info.config, device: options.device ?? 'auto', threads: options.threads };
      worker.postMessage(init, [bytes.buffer as ArrayBuffer]);
    });
    if (ready.type !== 'ready') {
      await worker.terminate();
      throw ready.type === 'init-error' ? reviveError(ready.name, ready.message) : new Error(`unexpected worker reply ${ready.type}`);
    }
    options.progress_callback?.({ status: 'ready', name: got.name, file: modelFileName(got.name), device: ready.device, reason: ready.reason });
    return new LiquidFlow(worker, got.name, got.from, info, ready.device, ready.reason, dtype, dtypeReason);
  }

  /** Generates `count` images; resolves to one RGBA image per sample, each with toPng() and save(path). */
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
      return toImages(x, count, in_channels, img_size).map(({ width, height, data, rgb }) => new LiquidFlowImage(width, height, data, rgb));
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
