// The family registry: a family is a folder (packages/core/src/families/<arch>/, models/variants/<arch>/) plus one
// registry entry; a config names its family in `arch`, and one saved before `arch` existed is LiquidFlow's.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ARCH_NAMES, type ArchName, ConfigError, DEFAULT_ARCH, LIQUIDFLOW_DEFAULTS, OnnxOps, getFamily, modelForward, paramSpecs, resolveConfig,
  validateConfig,
} from '@liquidflow/core';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const folders = (dir: string) => readdirSync(`${repo}/${dir}`, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

/** The error `fn` throws (a test failure when it throws none). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('registry', () => {
  it('has one family per folder of families/ and of models/variants/, liquidflow the default', () => {
    expect([...ARCH_NAMES].sort()).toEqual(folders('packages/core/src/families'));
    expect([...ARCH_NAMES].sort()).toEqual(folders('models/variants'));
    expect(DEFAULT_ARCH).toBe('liquidflow');
  });

  it('an unknown arch fails with a ConfigError listing the known families', () => {
    const e = thrown(() => getFamily('liquidfoo'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(`unknown arch "liquidfoo": known families are ${ARCH_NAMES.join(', ')}`);
    expect(thrown(() => getFamily('toString')).message).toContain('unknown arch "toString"');
  });

  for (const arch of ARCH_NAMES) {
    describe(arch, () => {
      const family = getFamily(arch);

      it('each variant is a file in models/variants/<arch>/ and resolves to a config of this family', () => {
        const files = readdirSync(`${repo}/models/variants/${arch}`).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
        expect([...family.variantNames].sort()).toEqual(files.sort());
        expect(Object.keys(family.variants).sort()).toEqual(files.sort());
        for (const name of family.variantNames) {
          const cfg = resolveConfig(name, { arch });
          expect(cfg.arch).toBe(arch);
          expect(cfg.variant).toBe(name);
          expect(family.variants[name].variant).toBe(name);
          expect(family.variants[name].why.length).toBeGreaterThan(20);
        }
      });

      it('its defaults validate to themselves, arch first', () => {
        const cfg = validateConfig(family.defaults, 'defaults');
        expect(cfg).toEqual(family.defaults);
        expect(Object.keys(cfg)[0]).toBe('arch');
      });

      it('its forward maps x [B, C, H, W] to v of the same shape, and its parameter names are unique', () => {
        const cfg = family.defaults;
        const ops = new OnnxOps();
        const x = ops.input('x', [-1, cfg.in_channels, cfg.img_size, cfg.img_size]);
        expect(ops.shape(modelForward(ops, cfg, x, ops.input('t', [-1])))).toEqual([-1, cfg.in_channels, cfg.img_size, cfg.img_size]);
        const names = paramSpecs(cfg).map((s) => s.name);
        expect(new Set(names).size).toBe(names.length);
      });
    });
  }
});

describe('configs name their family', () => {
  const WHERE = 'ckpt/config.json';

  it("a config saved before 'arch' existed loads as liquidflow with the same fields", () => {
    const { arch: _, ...old } = LIQUIDFLOW_DEFAULTS;
    expect('arch' in old).toBe(false);
    expect(validateConfig(old, WHERE)).toEqual({ arch: 'liquidflow', ...old });
  });

  it('an unknown arch is refused, naming the source and the known families', () => {
    const e = thrown(() => validateConfig({ ...LIQUIDFLOW_DEFAULTS, arch: 'liquidfoo' }, WHERE));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(`${WHERE}: unknown arch "liquidfoo": known families are ${ARCH_NAMES.join(', ')}`);
  });

  it('an arch that is not a string is refused, naming the field', () => {
    expect(thrown(() => validateConfig({ ...LIQUIDFLOW_DEFAULTS, arch: 7 }, WHERE)).message).toBe(`${WHERE}: field 'arch' must be a string, got 7`);
  });

  it('resolveConfig takes the family from overrides.arch and refuses an unknown one', () => {
    expect(resolveConfig('tiny', { arch: 'liquidflow' })).toEqual(resolveConfig('tiny'));
    expect(thrown(() => resolveConfig('tiny', { arch: 'liquidfoo' as string as ArchName })).message).toContain('unknown arch "liquidfoo"');
  });
});
