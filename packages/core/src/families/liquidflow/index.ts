// The LiquidFlow family: zigzag-ordered selective SSM || Liquid CfC blocks on patch tokens (seed 000).
import type { ModelFamily } from '../family.js';
import {
  LIQUIDFLOW_DEFAULTS, LIQUIDFLOW_VARIANTS, LIQUIDFLOW_VARIANT_NAMES, type LiquidFlowConfig, liquidFlowImageSizeProblem,
  liquidFlowSizeSummary, validateLiquidFlowConfig,
} from './config.js';
import { liquidFlow } from './model.js';
import { resizeLiquidFlowWeights } from './pos-embed-resize.js';

export const LIQUIDFLOW: ModelFamily<LiquidFlowConfig> = {
  name: 'liquidflow',
  description: 'LiquidSSM blocks on patch tokens: zigzag selective SSM and Liquid CfC, AdaLN, U-Net long skips',
  defaults: LIQUIDFLOW_DEFAULTS,
  variants: LIQUIDFLOW_VARIANTS,
  variantNames: LIQUIDFLOW_VARIANT_NAMES,
  validate: validateLiquidFlowConfig,
  sizeSummary: liquidFlowSizeSummary,
  imageSizeProblem: liquidFlowImageSizeProblem,
  forward: liquidFlow,
  resizeWeights: resizeLiquidFlowWeights,
};

export * from './config.js';
export * from './model.js';
export * from './pos-embed-resize.js';
