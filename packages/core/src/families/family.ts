// What a model family provides. A family is one folder under families/ (its config, its model file, its variants in
// models/variants/<arch>/) and one line in registry.ts; everything else (parameter specs, checkpoints, the training
// step, TF.js, the exporter, the runtimes) reaches it through the registry by the config's `arch`.
import type { Ops } from '../ops.js';
import type { Weights } from '../param-init.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The fields every family's config has: what samplers, checkpoints and the ONNX contract rely on. */
export interface BaseConfig {
  /** The family (registry.ts). Configs saved before families existed have none and are LiquidFlow's. */
  arch: string;
  /** Name of the variant this config was resolved from, or 'custom'. */
  variant: string;
  /** Images are square: [in_channels, img_size, img_size]. */
  img_size: number;
  in_channels: number;
}

/** A file in models/variants/<arch>/: only what differs from the family's defaults, and why. */
export interface VariantFile<C extends BaseConfig = BaseConfig> {
  variant: string;
  why: string;
  config: Partial<C>;
}

export interface ModelFamily<C extends BaseConfig = BaseConfig> {
  /** The `arch` of its configs. */
  readonly name: C['arch'];
  /** One line for help texts. */
  readonly description: string;
  readonly defaults: C;
  readonly variants: Readonly<Record<string, VariantFile<C>>>;
  /** Variant names smallest first. */
  readonly variantNames: readonly string[];
  /**
   * Checks every field of a raw config (a checkpoint's config.json, a model's metadata, a variant plus flags) and
   * returns the config with only its own fields; `where` starts every message. A field added after configs of this
   * family were first saved must, when absent, take the value that reproduces the models saved before it existed.
   * Runs before anything is sized from the config, so it must bound every size without tracing the model.
   */
  validate(raw: Readonly<Record<string, unknown>>, where: string): C;
  /** The fields that set the model's size, for messages ('dim 160, depth 8, ...'). */
  sizeSummary(cfg: C): string;
  /** Why the model cannot run at `size` px, with the nearest sizes that work; undefined when it can. */
  imageSizeProblem(cfg: C, size: number): string | undefined;
  /** The velocity v(x_t, t): x [B, C, H, W], t [B] -> [B, C, H, W]. Parameters come from ops.param, by module path. */
  forward<T>(ops: Ops<T>, cfg: C, x: T, t: T): T;
  /**
   * Weights for the same model at another img_size (weak-to-strong training, export at another size). Absent when no
   * weight depends on the image size.
   */
  resizeWeights?(weights: Weights, from: C, to: C): Weights;
}

/**
 * The fields every family's config starts with, checked the same way: `variant` (a string) and each integer field
 * (present, a non-negative integer, at most its limit). Returns them with `arch`; the family adds and checks the rest.
 */
export function checkCommonFields<K extends string>(
  c: Readonly<Record<string, unknown>>, where: string, arch: string, intFields: readonly K[], limits: Readonly<Record<K, number>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { arch };
  const variant = c.variant;
  if (variant === undefined) throw new ConfigError(`${where}: missing field 'variant'`);
  if (typeof variant !== 'string') throw new ConfigError(`${where}: field 'variant' must be a string, got ${JSON.stringify(variant)}`);
  out.variant = variant;
  for (const key of intFields) {
    const value = c[key];
    if (value === undefined) throw new ConfigError(`${where}: missing field '${key}'`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new ConfigError(`${where}: field '${key}' must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
    if (value > limits[key]) throw new ConfigError(`${where}: field '${key}' is ${value}, above the limit of ${limits[key]}`);
    out[key] = value;
  }
  return out;
}

/**
 * One string field whose value must be one of `allowed`. Absent, it takes `absent`: the value that reproduces the
 * configs saved before the field existed. `where` (a file, a flag) starts the message.
 */
export function checkEnumField<V extends string>(
  c: Readonly<Record<string, unknown>>, key: string, allowed: readonly V[], absent: V, where: string,
): V {
  const value = c[key];
  if (value === undefined) return absent;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${where}: field '${key}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as V;
}
