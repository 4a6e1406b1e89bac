// LiquidDiffusion's config: one type with defaults. A variant (models/variants/liquiddiffusion/*.json) lists only what
// differs; tsup bundles those files into dist, so built and packed packages carry them.
import { type BaseConfig, ConfigError, type VariantFile, checkCommonFields } from '../family.js';
import tiny from '../../../../../models/variants/liquiddiffusion/tiny.json';
import small from '../../../../../models/variants/liquiddiffusion/small.json';
import base from '../../../../../models/variants/liquiddiffusion/base.json';
import large from '../../../../../models/variants/liquiddiffusion/large.json';

export interface LiquidDiffusionConfig extends BaseConfig {
  arch: 'liquiddiffusion';
  /** Name of the variant this config was resolved from (tiny, small, base, large, or custom). */
  variant: string;
  /** Any multiple of 2^(stages - 1): the map halves between stages. */
  img_size: number;
  in_channels: number;
  /** Width of each U-Net stage, highest resolution first (the seed's "Channels"). */
  channels: number[];
  /** LiquidDiffusion blocks in each encoder stage; the decoder mirrors them (the seed's "Blocks"). */
  blocks: number[];
  /** Blocks at the lowest resolution, between encoder and decoder. */
  bottleneck_blocks: number;
  /** FeedForward hidden width = ffn_ratio * the stage's width. */
  ffn_ratio: number;
  /** Width of t_emb, which every block reads (0: channels[0], the seed's `dim`). */
  time_dim: number;
  /** Width of the sinusoidal timestep features fed to the time MLP. */
  time_freq_dim: number;
  /** Groups of the output head's GroupNorm (channels[0] must be a multiple). */
  norm_groups: number;
}

export const LIQUIDDIFFUSION_DEFAULTS: LiquidDiffusionConfig = {
  arch: 'liquiddiffusion',
  variant: 'custom',
  img_size: 32,
  in_channels: 3,
  channels: [64, 128, 256],
  blocks: [2, 2, 4],
  bottleneck_blocks: 2,
  ffn_ratio: 2,
  time_dim: 0,
  time_freq_dim: 256,
  norm_groups: 32,
};

type Variant = VariantFile<LiquidDiffusionConfig>;

export const LIQUIDDIFFUSION_VARIANTS: Readonly<Record<string, Variant>> = Object.freeze({
  tiny: tiny as Variant,
  small: small as Variant,
  base: base as Variant,
  large: large as Variant,
});

export const LIQUIDDIFFUSION_VARIANT_NAMES: readonly string[] = Object.freeze(['tiny', 'small', 'base', 'large']);

type IntField = 'img_size' | 'in_channels' | 'bottleneck_blocks' | 'ffn_ratio' | 'time_dim' | 'time_freq_dim' | 'norm_groups';
const INT_FIELDS: IntField[] = ['img_size', 'in_channels', 'bottleneck_blocks', 'ffn_ratio', 'time_dim', 'time_freq_dim', 'norm_groups'];
type ListField = 'channels' | 'blocks';

/**
 * Upper bounds, checked before anything is sized from a config (a checkpoint's config.json, a model's metadata, a
 * flag): far above every shipped variant (4 stages, width 768, 8 blocks a stage, 512 px), low enough that a typo or a
 * hostile file cannot ask for terabytes of weights or an hours-long model trace. `channels` and `blocks` bound each
 * entry; `stages` bounds their length.
 */
export const LIQUIDDIFFUSION_LIMITS: Readonly<Record<IntField | ListField | 'stages', number>> = Object.freeze({
  img_size: 2048, in_channels: 16, bottleneck_blocks: 64, ffn_ratio: 16, time_dim: 8192, time_freq_dim: 8192, norm_groups: 4096,
  channels: 4096, blocks: 64, stages: 6,
});

function intList(c: Readonly<Record<string, unknown>>, key: ListField, where: string): number[] {
  const value = c[key];
  if (value === undefined) throw new ConfigError(`${where}: missing field '${key}'`);
  const limit = LIQUIDDIFFUSION_LIMITS[key];
  if (!Array.isArray(value) || value.length === 0 || value.length > LIQUIDDIFFUSION_LIMITS.stages) {
    throw new ConfigError(`${where}: field '${key}' must be a list of 1 to ${LIQUIDDIFFUSION_LIMITS.stages} positive integers (one per stage), got ${JSON.stringify(value)}`);
  }
  for (const v of value) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new ConfigError(`${where}: field '${key}' must be a list of positive integers, got ${JSON.stringify(value)}`);
    }
    if (v > limit) throw new ConfigError(`${where}: field '${key}' has ${v}, above the limit of ${limit}`);
  }
  return [...value];
}

/** Every field checked; the parameter limit is checked by the caller (config.ts), which traces the model. */
export function validateLiquidDiffusionConfig(c: Readonly<Record<string, unknown>>, where: string): LiquidDiffusionConfig {
  const out = checkCommonFields(c, where, 'liquiddiffusion', INT_FIELDS, LIQUIDDIFFUSION_LIMITS);
  out.channels = intList(c, 'channels', where);
  out.blocks = intList(c, 'blocks', where);
  // Field order as in the type, so a validated config reads like the defaults.
  const cfg = Object.fromEntries(Object.keys(LIQUIDDIFFUSION_DEFAULTS).map((k) => [k, out[k]])) as unknown as LiquidDiffusionConfig;
  const must = (ok: boolean, msg: string) => {
    if (!ok) throw new ConfigError(`${where}: ${msg}`);
  };
  must(cfg.channels.length === cfg.blocks.length, `channels (${cfg.channels.length} stages) and blocks (${cfg.blocks.length} stages) must have one entry per stage each`);
  const problem = liquidDiffusionImageSizeProblem(cfg, cfg.img_size);
  if (problem) throw new ConfigError(`${where}: ${problem}`);
  must(cfg.in_channels >= 1 && cfg.ffn_ratio >= 1, 'in_channels and ffn_ratio must be >= 1');
  must(cfg.time_freq_dim % 2 === 0 && cfg.time_freq_dim >= 2, `time_freq_dim must be even and >= 2, got ${cfg.time_freq_dim}`);
  must(cfg.norm_groups >= 1 && cfg.channels[0] % cfg.norm_groups === 0, `channels[0] (${cfg.channels[0]}) must be a multiple of norm_groups (${cfg.norm_groups})`);
  return cfg;
}

/** Derived sizes used throughout the model. */
export function liquidDiffusionDims(cfg: LiquidDiffusionConfig) {
  const stages = cfg.channels.length;
  return {
    stages,
    /** img_size must be a multiple of this: the map halves between stages. */
    sizeStep: 2 ** (stages - 1),
    timeDim: cfg.time_dim || cfg.channels[0],
  };
}

/** The fields that set the parameter count. */
export function liquidDiffusionSizeSummary(cfg: LiquidDiffusionConfig): string {
  return `channels [${cfg.channels}], blocks [${cfg.blocks}] + ${cfg.bottleneck_blocks}, ffn_ratio ${cfg.ffn_ratio}, time_dim ${liquidDiffusionDims(cfg).timeDim}`;
}

/** Any positive multiple of 2^(stages - 1) works: every stage halves the map and no weight depends on its size. */
export function liquidDiffusionImageSizeProblem(cfg: LiquidDiffusionConfig, size: number): string | undefined {
  const step = liquidDiffusionDims(cfg).sizeStep;
  if (Number.isInteger(size) && size >= step && size % step === 0) return undefined;
  const down = Math.floor(size / step) * step;
  const hint = !Number.isFinite(size) ? '' : down < step ? ` (the smallest is ${step})` : ` (nearest: ${down} or ${down + step})`;
  return `img_size ${size} is not a positive multiple of ${step} (${cfg.channels.length} stages halve it ${cfg.channels.length - 1} times)${hint}`;
}
