// Messages between a page (WorkerLiquidFlow) and the module worker (worker.ts) that owns the ORT session.
import type { DtypeOption, LiquidFlowModelInfo, ModelDtype, SamplingRequest } from '@liquidflow/core';
import type { WebDevice } from './devices.js';
import type { ProgressEvent } from './model-source.js';

export interface InitMessage {
  type: 'init';
  /** Absolute model URL, or its bytes (transferred). */
  model: string | ArrayBuffer;
  device: WebDevice;
  dtype?: DtypeOption;
  cache?: boolean;
  stallTimeoutMs?: number;
  maxBytes?: number;
  expectedBytes?: number;
  wasmPaths?: string | { wasm?: string; mjs?: string };
  threads?: number;
  threadStartTimeoutMs?: number;
  /** Set when the page restarted the worker with fewer threads: why (becomes lf.threadsReason). */
  threadsReason?: string;
  gpuLatents?: boolean;
  /** URL of onnxruntime-web's ESM file (import maps do not reach workers). */
  ortUrl?: string;
  /** URL of the ESM file of its wasm build ('onnxruntime-web/wasm'), for sessions on WASM. */
  ortWasmUrl?: string;
}

export interface GenerateMessage extends SamplingRequest {
  type: 'generate';
  id: number;
}

export type ToWorker = { type: 'ping' } | InitMessage | GenerateMessage | { type: 'cancel'; id: number } | { type: 'close' };

export interface ReadyMessage {
  type: 'ready';
  url: string;
  info: LiquidFlowModelInfo;
  device: 'webgpu' | 'wasm';
  reason: string;
  dtype: ModelDtype;
  dtypeReason: string;
  threads: number;
  threadsReason: string;
  latentsOnGpu: boolean;
  source: 'network' | 'cache' | 'bytes';
  cacheStatus: string;
}

export type FromWorker =
  /** The answer to 'ping': the worker's module loaded and listens. */
  | { type: 'started' }
  | { type: 'load-progress'; event: ProgressEvent }
  | ReadyMessage
  | { type: 'init-error'; message: string; name: string }
  | { type: 'progress'; id: number; step: number; total: number; elapsed: number; preview?: Float32Array }
  | { type: 'done'; id: number; x: Float32Array }
  | { type: 'error'; id: number; message: string; name: string; aborted: boolean }
  | { type: 'closed' };
