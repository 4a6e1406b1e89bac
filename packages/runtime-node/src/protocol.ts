// Messages between LiquidFlow (main thread) and its worker. The worker owns the ORT session so that run(), which
// does its native work on the calling thread, never blocks the app's event loop.
import type { ModelConfig, SamplingRequest } from '@liquidflow/core';

export type NodeDevice = 'auto' | 'cpu' | 'cuda';

export interface InitMessage {
  type: 'init';
  /** The model, already checked by readLiquidFlowInfo on the main thread (transferred, not copied). */
  bytes: Uint8Array;
  /** Its path or URL, for messages. */
  name: string;
  config: ModelConfig;
  device: NodeDevice;
  threads?: number;
}

export interface GenerateMessage extends SamplingRequest {
  type: 'generate';
  id: number;
  /** Int32Array over a SharedArrayBuffer: set to 1 by the main thread to cancel; read between steps. */
  cancel: SharedArrayBuffer;
}

export type ToWorker = InitMessage | GenerateMessage | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; device: 'cpu' | 'cuda'; reason: string }
  | { type: 'init-error'; message: string; name: string }
  | { type: 'progress'; id: number; step: number; total: number; elapsed: number; preview?: Float32Array }
  | { type: 'done'; id: number; x: Float32Array }
  | { type: 'error'; id: number; message: string; name: string; aborted: boolean };
