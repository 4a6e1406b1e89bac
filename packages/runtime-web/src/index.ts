export { LiquidFlow, type LoadOptions, type GenerateOptions } from './liquidflow.js';
export { WorkerLiquidFlow, createWorkerLiquidFlow, DEFAULT_WORKER_START_TIMEOUT_MS, type WorkerLoadOptions } from './worker-client.js';
export { ThreadStartError, DEFAULT_THREAD_START_TIMEOUT_MS } from './ort-threads.js';
export { WEB_DEVICES, wasmThreads, type WebDevice, type WasmOptions } from './devices.js';
export {
  fetchModel, clearCache, isCached, sha256Hex, CACHE_NAME, ModelDownloadError, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_MAX_MODEL_BYTES,
  type ModelSource, type ProgressEvent, type ProgressCallback, type FetchModelOptions, type FetchedModel,
} from './model-source.js';
export { drawToCanvas, drawGridToCanvas, imageGridData, toPngBlob, toPngBytes, latentsToImageData, makeImageData } from './images.js';
export type { Ort, OrtSource } from './ort.js';
export {
  initialNoise, timeGrid, SamplingAbortedError, ModelFileError, EngineError, NonFiniteOutputError, readLiquidFlowInfo, DEFAULT_STEPS, SAMPLERS,
  type SamplerName, type SampleProgress, type ModelConfig, type LiquidFlowConfig, type LiquidDiffusionConfig, type LiquidFlowModelInfo,
} from '@liquidflow/core';
