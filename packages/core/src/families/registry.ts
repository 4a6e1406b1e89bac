// The model families, by the `arch` of their configs. A new family is a folder beside liquidflow/ (config with
// defaults and validation, variants in models/variants/<arch>/, a model file over Ops) and one entry in FAMILIES.
import type { Ops } from '../ops.js';
import type { Weights } from '../param-init.js';
import { ConfigError, type ModelFamily } from './family.js';
import { LIQUIDDIFFUSION } from './liquiddiffusion/index.js';
import { LIQUIDFLOW } from './liquidflow/index.js';

const FAMILIES = { liquidflow: LIQUIDFLOW, liquiddiffusion: LIQUIDDIFFUSION } as const;

export type ArchName = keyof typeof FAMILIES;
/** The config type of the family named A. */
export type ConfigOf<A extends ArchName> = ReturnType<(typeof FAMILIES)[A]['validate']>;
/** A config of any family; `arch` tells which. */
export type ModelConfig = ConfigOf<ArchName>;

export const ARCH_NAMES: readonly ArchName[] = Object.freeze(Object.keys(FAMILIES) as ArchName[]);
/** The family of configs saved before `arch` existed, and of liquidflow-train without --arch. */
export const DEFAULT_ARCH: ArchName = 'liquidflow';

export function isArchName(name: unknown): name is ArchName {
  return typeof name === 'string' && Object.hasOwn(FAMILIES, name);
}

/** The family named `arch`; an unknown name is a ConfigError listing the known ones (after `where`, when given). */
export function getFamily(arch: string, where?: string): ModelFamily<ModelConfig> {
  if (!isArchName(arch)) {
    throw new ConfigError(`${where ? `${where}: ` : ''}unknown arch ${JSON.stringify(arch)}: known families are ${ARCH_NAMES.join(', ')}`);
  }
  return FAMILIES[arch];
}

export function familyOf(cfg: ModelConfig): ModelFamily<ModelConfig> {
  return getFamily(cfg.arch, `config of variant '${cfg.variant}'`);
}

/** The velocity v(x_t, t) of the config's family: x [B, C, H, W], t [B] -> [B, C, H, W]. */
export function modelForward<T>(ops: Ops<T>, cfg: ModelConfig, x: T, t: T): T {
  return familyOf(cfg).forward(ops, cfg, x, t);
}

/** Weights of `from` for the same model at `to`'s image size (the family's resizeWeights, if any weight depends on it). */
export function weightsForImageSize(weights: Weights, from: ModelConfig, to: ModelConfig): Weights {
  if (from.arch !== to.arch) throw new ConfigError(`cannot carry ${from.arch} weights over to a ${to.arch} model`);
  const family = familyOf(from);
  return family.resizeWeights ? family.resizeWeights(weights, from, to) : weights;
}
