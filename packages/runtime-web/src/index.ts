// The page's entry. ORT comes from the page's own resolution of its two builds (an import map or a bundler); the
// dynamic imports live here, not in the modules the worker bundles share, so that each worker bundle holds one build.
import type { Ort } from './ort.js';
import { ortFor, setOrtImports } from './ort.js';
import { isOrtThreadWorker, threadWorkerBuild } from './ort-threads.js';

setOrtImports({
  webgpu: async () => (await import('onnxruntime-web')) as Ort,
  wasm: async () => (await import('onnxruntime-web/wasm')) as Ort,
});
// Where a bundler put ORT into this same bundle (esbuild), ORT's thread workers load the bundle: become a thread of the
// build that started this worker.
if (isOrtThreadWorker()) {
  ortFor(threadWorkerBuild(), {}).catch(() => {
    /* not resolvable here (an import map page): then this bundle is not ORT's thread script */
  });
}

export { LiquidFlow, type LoadOptions, type GenerateOptions } from './liquidflow.js';
export { WorkerLiquidFlow, createWorkerLiquidFlow, DEFAULT_WORKER_START_TIMEOUT_MS, type WorkerLoadOptions } from './worker-client.js';
export { ThreadStartError, DEFAULT_THREAD_START_TIMEOUT_MS } from './ort-threads.js';
export { WEB_DEVICES, wasmThreads, type WebDevice, type WasmOptions } from './devices.js';
export {
  fetchModel, clearCache, isCached, sha256Hex, CACHE_NAME, ModelDownloadError, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_MAX_MODEL_BYTES,
  type ModelSource, type ProgressEvent, type ProgressCallback, type FetchModelOptions, type FetchedModel,
} from './model-source.js';
export { drawToCanvas, drawGridToCanvas, imageGridData, toPngBlob, toPngBytes, latentsToImageData, makeImageData } from './images.js';
export type { Ort, OrtSource, OrtBuild, OrtOptions } from './ort.js';
export {
  initialNoise, timeGrid, SamplingAbortedError, ModelFileError, EngineError, NonFiniteOutputError, readLiquidFlowInfo, DEFAULT_STEPS, SAMPLERS,
  type SamplerName, type SampleProgress, type ModelConfig, type LiquidFlowConfig, type LiquidDiffusionConfig, type LiquidFlowModelInfo,
} from '@liquidflow/core';
