export { LiquidFlow, type LoadOptions, type GenerateOptions, type GeneratedImage } from './liquidflow.js';
export { encodePng } from './png.js';
export { LiquidFlowImage } from './image.js';
export type { ModelSource, ProgressEvent, ProgressCallback } from './model-source.js';
export { NODE_DEVICES, CUDA_HINT, openSession, type OpenedSession } from './devices.js';
export type { NodeDevice } from './protocol.js';
export {
  sample, toImages, imageGrid, initialNoise, ModelDownloadError, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_MAX_MODEL_BYTES, timeGrid, SamplingAbortedError, ModelFileError, EngineError, NonFiniteOutputError, readLiquidFlowInfo,
  type SamplerName, type SampleProgress, type VelocityFn,
} from '@liquidflow/core';
