export { LiquidFlow, type LoadOptions, type GenerateOptions, type GeneratedImage } from './liquidflow.js';
export { encodePng } from './png.js';
export { NODE_DEVICES, CUDA_HINT, openSession, type OpenedSession } from './devices.js';
export type { NodeDevice } from './protocol.js';
export {
  sample, toImages, imageGrid, initialNoise, timeGrid, SamplingAbortedError, ModelFileError, EngineError, NonFiniteOutputError, readLiquidFlowInfo,
  type SamplerName, type SampleProgress, type VelocityFn,
} from '@liquidflow/core';
