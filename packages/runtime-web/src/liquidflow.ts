// LiquidFlow in the browser: fetch (or take from the cache) a .onnx exported by liquidflow-export, open it on WebGPU
// or WASM, and generate images with the shared Euler/Heun sampler of @liquidflow/core (on WebGPU, by default, its
// GPU-resident twin in gpu-sampler.ts, which keeps the latents on the device between steps).
import {
  checkDtypeOption, checkFileDtype, type DtypeOption, EngineError, engineError, type GenerateOptions, type ModelDtype,
  type ModelConfig, type LiquidFlowModelInfo, ONNX_INPUT, ONNX_OUTPUT, type SamplerName, type SampleProgress, modelFileName, sample, SamplingAbortedError,
} from '@liquidflow/core';
import type { InferenceSession } from 'onnxruntime-web';
import { type OpenedSession, type WasmOptions, type WebDevice, chooseDtype, openSession } from './devices.js';
import { type FetchModelOptions, type ModelSource, fetchModel } from './model-source.js';
import { latentsToImageData } from './images.js';
import { type GpuUpdates, openGpuUpdates, sampleOnGpu } from './gpu-sampler.js';
import type { Ort, OrtOptions } from './ort.js';
import { ThreadStartError, isOrtThreadWorker, never } from './ort-threads.js';

export interface LoadOptions extends FetchModelOptions, WasmOptions, OrtOptions {
  /** 'auto' (WebGPU if it works here, else WASM; default), 'webgpu' (fail if unavailable) or 'wasm'. */
  device?: WebDevice;
  /** On WebGPU, keep the latents on the GPU between steps (default true); false reads v back every step. */
  gpuLatents?: boolean;
  /**
   * The precision: 'fp32', 'fp16', 'q8', 'q4', or 'auto' (default: fp16 on a WebGPU adapter with shader-f16, fp32
   * elsewhere). For a URL not ending in .onnx (a folder of model.onnx, model_fp16.onnx, ...) it picks the file; a
   * .onnx URL must be that precision.
   */
  dtype?: DtypeOption;
  /** @internal The generation worker's account of a thread count it fell back to (becomes lf.threadsReason). */
  threadsReason?: string;
}

export type { GenerateOptions } from '@liquidflow/core';

/**
 * Lets pending tasks (events, worker messages) run first: a MessageChannel round trip, queued behind them. (Not
 * scheduler.yield(): its continuation is prioritized over other tasks, so a cancel message could wait forever.)
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export class LiquidFlow {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    /** The model's absolute URL ('bytes' when given as bytes). */
    readonly url: string,
    readonly info: LiquidFlowModelInfo,
    /** The execution provider running the model. */
    readonly device: 'webgpu' | 'wasm',
    /** Why that provider runs (e.g. 'WebGPU unavailable: no adapter — running on wasm (1 thread, ...)'). */
    readonly deviceReason: string,
    /** WASM threads (also used by WebGPU sessions for the few nodes they leave to the CPU). */
    readonly threads: number,
    /** Where the bytes came from this time. */
    readonly source: 'network' | 'cache' | 'bytes',
    /** What happened with the cache ('hit', 'stored', 'disabled', 'corrupt entry deleted (...)', ...). */
    readonly cacheStatus: string,
    private readonly gpu: GpuUpdates | null,
    /** The precision of the loaded file. */
    readonly dtype: ModelDtype,
    /** Why that precision ('requested', or what 'auto' picked and why). */
    readonly dtypeReason: string,
    /** Why `threads` threads (cross-origin isolation, the request, or a fallback to 1 thread and why). */
    readonly threadsReason: string,
  ) {}

  /** Whether the latents stay on the GPU between steps (WebGPU with gpuLatents, the default). */
  get latentsOnGpu(): boolean {
    return this.gpu !== null;
  }

  get config(): ModelConfig {
    return this.info.config;
  }

  /** Downloads (or reads from the cache) a LiquidFlow .onnx, checks it, and opens it on a device. */
  static async load(model: ModelSource, options: LoadOptions = {}): Promise<LiquidFlow> {
    // In one of ORT's thread workers running the page's bundle, the page's own code calls this too: it must start nothing.
    if (isOrtThreadWorker()) return never();
    const requested = checkDtypeOption(options.dtype);
    const choice = await chooseDtype(requested, options.device ?? 'auto');
    const fetched = await fetchModel(model, options, choice.dtype);
    const dtype = checkFileDtype(fetched.info.metadata, requested, fetched.url);
    const dtypeReason = typeof model === 'string' || model instanceof URL ? choice.reason : requested === 'auto' ? `auto: the bytes given are ${dtype}` : 'requested';
    let opened: OpenedSession;
    try {
      opened = await openSession(fetched.bytes, options.device ?? 'auto', options, fetched.url, choice.probe);
    } catch (e) {
      // A ThreadStartError keeps its name: the worker client restarts with 1 thread on it.
      if (e instanceof EngineError || e instanceof ThreadStartError) throw e;
      throw new Error(`${fetched.url}: ${(e as Error).message}`);
    }
    let gpu: GpuUpdates | null = null;
    let reason = opened.reason;
    if (opened.device === 'webgpu' && options.gpuLatents !== false) {
      try {
        gpu = await openGpuUpdates(opened.ort);
      } catch (e) {
        reason += `; latents on the CPU (the GPU update graph failed: ${String((e as Error).message).split('\n')[0]})`;
      }
    }
    options.progress_callback?.({ status: 'ready', name: fetched.url, file: modelFileName(fetched.url), device: opened.device, reason });
    return new LiquidFlow(opened.ort, opened.session, fetched.url, fetched.info, opened.device, reason, opened.threads, fetched.from, fetched.cacheStatus, gpu, dtype, dtypeReason,
      options.threadsReason ?? opened.threadsReason);
  }

  private velocity = async (x: Float32Array, t: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> => {
    // ORT's WASM run() can resolve without ever leaving the microtask queue: yield to the event loop before each model
    // call, so clicks, a cancel message (in a worker) and progress repaints get through between steps.
    await yieldToEventLoop();
    const { Tensor } = this.ort;
    const feeds = { [ONNX_INPUT.image]: new Tensor('float32', x, [...shape]), [ONNX_INPUT.time]: new Tensor('float32', t, [t.length]) };
    const out = await this.session.run(feeds).catch((e) => {
      throw engineError(this.url, 'run the model', e);
    });
    const v = out[ONNX_OUTPUT.velocity];
    // CPU tensors on WASM (and on WebGPU with gpuLatents: false); a GPU-resident output (WebGPU whose update graph
    // failed to open) is downloaded and its buffer released.
    return (v.location === 'cpu' ? v.data : await v.getData(true)) as Float32Array;
  };

  /** Samples and returns x0 [count, C, H, W] in model space (about [-1, 1]): the raw output behind generate(). */
  sampleLatents(options: GenerateOptions = {}): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(new Error('this LiquidFlow was disposed'));
    if (options.signal?.aborted) return Promise.reject(new SamplingAbortedError());
    // One run at a time: an ORT session rejects overlapping run() calls.
    const o = {
      count: options.count ?? 1,
      channels: this.config.in_channels,
      size: this.config.img_size,
      steps: options.steps,
      sampler: options.sampler,
      seed: options.seed,
      onProgress: options.onProgress,
      preview: options.preview,
      signal: options.signal,
      model: this.url,
    };
    const gpu = this.gpu;
    const job = this.queue.then(() => (gpu ? sampleOnGpu(this.ort, this.session, gpu, o, yieldToEventLoop, this.url) : sample(this.velocity, o)));
    this.queue = job.catch(() => {});
    return job;
  }

  /** Generates `count` images; resolves to one ImageData (RGBA, img_size x img_size) per image. */
  async generate(options: GenerateOptions = {}): Promise<ImageData[]> {
    const x = await this.sampleLatents(options);
    return latentsToImageData(x, options.count ?? 1, this.config.in_channels, this.config.img_size);
  }

  /** Releases the ORT session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
    await this.gpu?.axpy.release();
    await this.gpu?.heun.release();
  }
}
