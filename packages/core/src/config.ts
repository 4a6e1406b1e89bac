// Configs of every family: resolve a variant plus overrides, or check one read from a file. The family comes from the
// config's `arch` (families/registry.ts); a config saved before families existed has none and is LiquidFlow's, which
// is exactly the model it was saved from.
import { ConfigError } from './families/family.js';
import { type ArchName, type ConfigOf, DEFAULT_ARCH, type ModelConfig, getFamily } from './families/registry.js';
import { countParams } from './param-specs.js';

/** Parameters (float32: 4 GB each for weights, EMA and the two AdamW moments). The largest variant has 38M. */
export const MAX_PARAMS = 1e9;

/** A variant of the family `overrides.arch` (default liquidflow) plus overrides, validated. */
export function resolveConfig<A extends ArchName = 'liquidflow'>(variant: string, overrides: Partial<ConfigOf<A>> & { arch?: A } = {}): ConfigOf<A> {
  const arch = overrides.arch ?? DEFAULT_ARCH;
  const family = getFamily(arch);
  const v = Object.hasOwn(family.variants, variant) ? family.variants[variant] : undefined;
  if (!v) throw new ConfigError(`unknown model_size '${variant}': expected one of ${family.variantNames.join(', ')} (${arch} variants)`);
  return validateConfig({ ...family.defaults, ...v.config, ...overrides, arch, variant }, `variant '${variant}'`) as ConfigOf<A>;
}

/**
 * Check every field of a config (for example one read from a checkpoint's config.json) and return it with only the
 * fields of its family. `where` names the source in error messages.
 */
export function validateConfig(raw: unknown, where: string): ModelConfig {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(`${where}: config must be an object`);
  const c = raw as Record<string, unknown>;
  const arch = c.arch ?? DEFAULT_ARCH;
  if (typeof arch !== 'string') throw new ConfigError(`${where}: field 'arch' must be a string, got ${JSON.stringify(arch)}`);
  const family = getFamily(arch, where);
  const cfg = family.validate(c, where);
  // Last: the count traces the model, which is only cheap once the family has bounded every field.
  const params = countParams(cfg);
  if (params > MAX_PARAMS) {
    throw new ConfigError(`${where}: the model would have ${params} parameters, above the limit of ${MAX_PARAMS} (${family.sizeSummary(cfg)})`);
  }
  return cfg;
}
