// The LiquidDiffusion family: a convolutional U-Net of ParallelCfC blocks with multi-scale depthwise mixing (seed 002).
import type { ModelFamily } from '../family.js';
import {
  LIQUIDDIFFUSION_DEFAULTS, LIQUIDDIFFUSION_VARIANTS, LIQUIDDIFFUSION_VARIANT_NAMES, type LiquidDiffusionConfig,
  liquidDiffusionImageSizeProblem, liquidDiffusionSizeSummary, validateLiquidDiffusionConfig,
} from './config.js';
import { liquidDiffusion } from './model.js';

// No resizeWeights: the network is fully convolutional, so no weight depends on the image size.
export const LIQUIDDIFFUSION: ModelFamily<LiquidDiffusionConfig> = {
  name: 'liquiddiffusion',
  description: 'a convolutional U-Net of ParallelCfC blocks: liquid time-gated CfC, multi-scale depthwise mixing, AdaLN, no attention',
  defaults: LIQUIDDIFFUSION_DEFAULTS,
  variants: LIQUIDDIFFUSION_VARIANTS,
  variantNames: LIQUIDDIFFUSION_VARIANT_NAMES,
  validate: validateLiquidDiffusionConfig,
  sizeSummary: liquidDiffusionSizeSummary,
  imageSizeProblem: liquidDiffusionImageSizeProblem,
  forward: liquidDiffusion,
};

export * from './config.js';
export * from './model.js';
