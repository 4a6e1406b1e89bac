// LiquidFlow's config: one type with defaults. A variant (models/variants/liquidflow/*.json) lists only what differs;
// tsup bundles those files into dist, so built and packed packages carry them.
import { type BaseConfig, ConfigError, type VariantFile, checkCommonFields, checkEnumField } from '../family.js';
import tiny from '../../../../../models/variants/liquidflow/tiny.json';
import small from '../../../../../models/variants/liquidflow/small.json';
import base from '../../../../../models/variants/liquidflow/base.json';
import v512 from '../../../../../models/variants/liquidflow/512.json';

export interface LiquidFlowConfig extends BaseConfig {
  arch: 'liquidflow';
  /** Name of the variant this config was resolved from (tiny, small, base, 512, or custom). */
  variant: string;
  img_size: number;
  patch_size: number;
  in_channels: number;
  /** Token width D. */
  dim: number;
  /** Number of LiquidSSM blocks; the first floor(depth/2) feed U-Net long skips to the last floor(depth/2). */
  depth: number;
  /** SSM inner width is expand * dim. */
  expand: number;
  /** Width of one SSM head; the inner width is split into expand*dim/head_dim heads, each with its own A and delta. */
  head_dim: number;
  /** SSM state size N (the width of B and C). */
  d_state: number;
  /** Causal depthwise conv1d kernel in the SSM. */
  d_conv: number;
  /** Hidden width of the Liquid CfC branch (0 means dim). */
  cfc_dim: number;
  mlp_ratio: number;
  /** Width of the sinusoidal timestep features fed to the time MLP. */
  time_freq_dim: number;
  /**
   * Number of scan orders the blocks rotate through, 1..4: 'snake' takes row snake, column snake and their reverses;
   * 'dim' the first of H+, H-, V+, V- (DiM's cycle, cut as its scan_pattern_len cuts it).
   */
  scan_orders: number;
  // DiM's options (seed 001); each default is the model saved before the field existed.
  /** Learnable padding tokens (DiM's lateral schedule): the token grid becomes (g+pad)^2 inside the blocks. */
  pad_tokens: number;
  /** 'pixels': 3x3 depthwise on tokens after the position embedding and on pixels after unpatchify; 'tokens': on tokens after the position embedding and after the last block (DiM). */
  smoothers: Smoothers;
  /** 'snake': per-layer zigzag, permuted and restored each layer; 'dim': DiM's mirrored raster schedule, restored once. */
  scan_schedule: ScanSchedule;
  /**
   * The SSM's decay: 'head' (one dt and A per head, Mamba-2 style; every model before this field) or 'channel'
   * (Mamba-1 / DiM: dt per channel through a low-rank dt_proj, A per channel and state; head_dim is then unused).
   */
  ssm: SsmForm;
}

export const SMOOTHERS = ['pixels', 'tokens'] as const;
export type Smoothers = (typeof SMOOTHERS)[number];
export const SCAN_SCHEDULES = ['snake', 'dim'] as const;
export type ScanSchedule = (typeof SCAN_SCHEDULES)[number];
export const SSM_FORMS = ['head', 'channel'] as const;
export type SsmForm = (typeof SSM_FORMS)[number];

export const LIQUIDFLOW_DEFAULTS: LiquidFlowConfig = {
  arch: 'liquidflow',
  variant: 'custom',
  img_size: 32,
  patch_size: 4,
  in_channels: 3,
  dim: 256,
  depth: 6,
  expand: 2,
  head_dim: 32,
  d_state: 16,
  d_conv: 4,
  cfc_dim: 0,
  mlp_ratio: 4,
  time_freq_dim: 256,
  scan_orders: 4,
  pad_tokens: 0,
  smoothers: 'pixels',
  scan_schedule: 'snake',
  ssm: 'head',
};

type Variant = VariantFile<LiquidFlowConfig>;

export const LIQUIDFLOW_VARIANTS: Readonly<Record<string, Variant>> = Object.freeze({
  tiny: tiny as Variant,
  small: small as Variant,
  base: base as Variant,
  '512': v512 as Variant,
});

/** Variant names smallest first (object key order would put '512' first: integer-like keys sort ahead). */
export const LIQUIDFLOW_VARIANT_NAMES: readonly string[] = Object.freeze(['tiny', 'small', 'base', '512']);

type IntField = Exclude<keyof LiquidFlowConfig, 'arch' | 'variant' | 'smoothers' | 'scan_schedule' | 'ssm'>;
const INT_FIELDS: IntField[] = [
  'img_size', 'patch_size', 'in_channels', 'dim', 'depth', 'expand', 'head_dim', 'd_state', 'd_conv',
  'cfc_dim', 'mlp_ratio', 'time_freq_dim', 'scan_orders', 'pad_tokens',
];

/**
 * Upper bounds, checked before anything is sized from a config (a checkpoint's config.json, a model's metadata, a
 * flag): far above every shipped variant (at most 512 px, patch 16, dim 416, depth 10, head_dim 64), low enough that a
 * typo or a hostile file cannot ask for terabytes of weights or an hours-long model trace.
 */
export const LIQUIDFLOW_LIMITS: Readonly<Record<IntField, number>> = Object.freeze({
  img_size: 2048, patch_size: 64, in_channels: 16, dim: 4096, depth: 64, expand: 16, head_dim: 4096, d_state: 1024,
  d_conv: 64, cfc_dim: 4096, mlp_ratio: 16, time_freq_dim: 8192, scan_orders: 4,
  pad_tokens: 16,
});
/** Tokens per image ((img_size / patch_size)^2): the scan length every block runs over. 4x 1024 px at patch 4. */
export const MAX_TOKENS = 65536;

/** Every field checked; the parameter limit is checked by the caller (config.ts), which traces the model. */
export function validateLiquidFlowConfig(c: Readonly<Record<string, unknown>>, where: string): LiquidFlowConfig {
  const out = checkCommonFields({ pad_tokens: 0, ...c }, where, 'liquidflow', INT_FIELDS, LIQUIDFLOW_LIMITS);
  out.smoothers = checkEnumField(c, 'smoothers', SMOOTHERS, 'pixels', where);
  out.scan_schedule = checkEnumField(c, 'scan_schedule', SCAN_SCHEDULES, 'snake', where);
  out.ssm = checkEnumField(c, 'ssm', SSM_FORMS, 'head', where);
  const cfg = out as unknown as LiquidFlowConfig;
  const must = (ok: boolean, msg: string) => {
    if (!ok) throw new ConfigError(`${where}: ${msg}`);
  };
  must(cfg.patch_size >= 1, `patch_size must be >= 1, got ${cfg.patch_size}`);
  must(cfg.img_size >= cfg.patch_size, `img_size ${cfg.img_size} is smaller than patch_size ${cfg.patch_size} (no tokens)`);
  must(cfg.img_size % cfg.patch_size === 0, `img_size ${cfg.img_size} is not a multiple of patch_size ${cfg.patch_size}`);
  const tokens = (cfg.img_size / cfg.patch_size + cfg.pad_tokens) ** 2;
  must(tokens <= MAX_TOKENS, `img_size ${cfg.img_size} at patch_size ${cfg.patch_size} with pad_tokens ${cfg.pad_tokens} makes ${tokens} tokens, above the limit of ${MAX_TOKENS}`);
  must(cfg.in_channels >= 1 && cfg.dim >= 1 && cfg.depth >= 1, 'in_channels, dim and depth must be >= 1');
  must(cfg.expand >= 1 && cfg.head_dim >= 1 && cfg.d_state >= 1 && cfg.d_conv >= 1 && cfg.mlp_ratio >= 1, 'expand, head_dim, d_state, d_conv, mlp_ratio must be >= 1');
  must((cfg.expand * cfg.dim) % cfg.head_dim === 0, `expand*dim (${cfg.expand * cfg.dim}) is not a multiple of head_dim ${cfg.head_dim}`);
  must(cfg.time_freq_dim % 2 === 0 && cfg.time_freq_dim >= 2, `time_freq_dim must be even, got ${cfg.time_freq_dim}`);
  must(cfg.scan_orders >= 1 && cfg.scan_orders <= 4, `scan_orders must be 1..4, got ${cfg.scan_orders}`);
  return cfg;
}

/** Derived sizes used throughout the model. */
export function liquidFlowDims(cfg: LiquidFlowConfig) {
  const grid = cfg.img_size / cfg.patch_size;
  const inner = cfg.expand * cfg.dim;
  const padded = grid + cfg.pad_tokens;
  return {
    grid,
    tokens: grid * grid,
    /** The token grid inside the blocks: grid plus pad_tokens padding rows and columns. */
    padded,
    patchDim: cfg.patch_size * cfg.patch_size * cfg.in_channels,
    inner,
    heads: inner / cfg.head_dim,
    cfcDim: cfg.cfc_dim || cfg.dim,
    skips: Math.floor(cfg.depth / 2),
    /** Rank of the channel SSM's dt projection (Mamba-1: ceil(dim / 16)). */
    dtRank: Math.ceil(cfg.dim / 16),
  };
}

/** The fields that set the parameter count. */
export function liquidFlowSizeSummary(cfg: LiquidFlowConfig): string {
  return `dim ${cfg.dim}, depth ${cfg.depth}, expand ${cfg.expand}, mlp_ratio ${cfg.mlp_ratio}${cfg.ssm ? `, ssm ${cfg.ssm}` : ''}`;
}

/** Any image size that is a positive multiple of patch_size works (the position table is resampled to its grid). */
export function liquidFlowImageSizeProblem(cfg: LiquidFlowConfig, size: number): string | undefined {
  const p = cfg.patch_size;
  if (Number.isInteger(size) && size >= p && size % p === 0) return undefined;
  const down = Math.floor(size / p) * p;
  const hint = !Number.isFinite(size) ? '' : down < p ? ` (the smallest is ${p})` : ` (nearest: ${down} or ${down + p})`;
  return `img_size ${size} is not a positive multiple of patch_size ${p}${hint}`;
}
