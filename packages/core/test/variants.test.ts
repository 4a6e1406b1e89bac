// Every shipped variant resolves to a valid config with the parameter budget the seed model had, and config
// validation rejects malformed configs with a message that says where and what.
import { describe, expect, it } from 'vitest';
import {
  ConfigError, LIQUIDFLOW_DEFAULTS, LIQUIDFLOW_LIMITS, LIQUIDFLOW_VARIANTS, MAX_PARAMS, MAX_TOKENS, countParams, paramSpecs, resolveConfig,
  validateConfig, type LiquidFlowConfig,
} from '@liquidflow/core';

// The seed implementation's parameter counts and the image size / patch it used for each variant.
const SEED: Record<string, { params: number; img: number; patch: number }> = {
  tiny: { params: 5.9e6, img: 128, patch: 4 },
  small: { params: 13.7e6, img: 128, patch: 4 },
  base: { params: 37.6e6, img: 256, patch: 8 },
  '512': { params: 38.1e6, img: 512, patch: 16 },
};

describe('variants', () => {
  it('ships exactly the seed variants', () => {
    expect(Object.keys(LIQUIDFLOW_VARIANTS).sort()).toEqual(Object.keys(SEED).sort());
  });

  for (const [name, seed] of Object.entries(SEED)) {
    it(`${name}: seed image size/patch and parameter count within 5% of ${seed.params / 1e6}M`, () => {
      const cfg = resolveConfig(name);
      expect(cfg.variant).toBe(name);
      expect(cfg.img_size).toBe(seed.img);
      expect(cfg.patch_size).toBe(seed.patch);
      const n = countParams(cfg);
      expect(Math.abs(n - seed.params) / seed.params).toBeLessThan(0.05);
    });

    it(`${name}: parameter names are unique and countParams is the sum of the spec sizes`, () => {
      const specs = paramSpecs(resolveConfig(name));
      const names = specs.map((s) => s.name);
      expect(new Set(names).size).toBe(names.length);
      let total = 0;
      for (const s of specs) {
        expect(s.shape.every((d) => Number.isInteger(d) && d > 0)).toBe(true);
        total += s.shape.reduce((a, b) => a * b, 1);
      }
      expect(countParams(resolveConfig(name))).toBe(total);
    });
  }

  it('overrides apply on top of the variant and keep its other fields', () => {
    const cfg = resolveConfig('tiny', { img_size: 32 });
    expect(cfg.img_size).toBe(32);
    expect(cfg.dim).toBe((LIQUIDFLOW_VARIANTS.tiny.config as Partial<LiquidFlowConfig>).dim);
    // Fewer pixels, same patch: the parameter count changes only through the position table and nothing else grows.
    expect(countParams(cfg)).toBeLessThan(countParams(resolveConfig('tiny')));
  });

  it("resolveConfig('huge') throws a ConfigError listing the valid names", () => {
    let err: unknown;
    try {
      resolveConfig('huge');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('huge');
    for (const v of Object.keys(SEED)) expect(msg).toContain(v);
  });
});

describe('resolveConfig: names inherited from Object.prototype are not variants', () => {
  for (const name of ['constructor', 'toString', '__proto__']) {
    it(`resolveConfig('${name}') throws ConfigError`, () => {
      expect(() => resolveConfig(name)).toThrow(ConfigError);
    });
  }
});

describe('validateConfig', () => {
  const good = (): Record<string, unknown> => ({ ...LIQUIDFLOW_DEFAULTS });
  const WHERE = 'ckpt/config.json';

  const expectConfigError = (raw: unknown, ...parts: string[]) => {
    let err: unknown;
    try {
      validateConfig(raw, WHERE);
    } catch (e) {
      err = e;
    }
    expect(err, `expected a ConfigError mentioning ${parts.join(', ')}`).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain(WHERE);
    for (const p of parts) expect(msg).toContain(p);
  };

  it('accepts the default config unchanged', () => {
    expect(validateConfig(good(), WHERE)).toEqual(LIQUIDFLOW_DEFAULTS);
  });

  it('drops unknown fields', () => {
    const cfg = validateConfig({ ...good(), extra: 1 }, WHERE) as unknown as Record<string, unknown>;
    expect('extra' in cfg).toBe(false);
  });

  it('a missing field names the field and where', () => {
    for (const field of ['dim', 'd_state', 'variant', 'scan_orders']) {
      const raw = good();
      delete raw[field];
      expectConfigError(raw, `'${field}'`, 'missing');
    }
  });

  it('a non-integer field names the field and where', () => {
    expectConfigError({ ...good(), dim: 12.5 }, "'dim'", '12.5');
    expectConfigError({ ...good(), depth: '6' }, "'depth'");
    expectConfigError({ ...good(), head_dim: -32 }, "'head_dim'");
  });

  it('img_size not a multiple of patch_size names both and where', () => {
    expectConfigError({ ...good(), img_size: 30, patch_size: 4 }, 'img_size', '30', 'patch_size', '4');
  });

  it('rejects a non-object', () => {
    expectConfigError(null);
    expectConfigError('tiny');
  });

  it('rejects out-of-range structural fields', () => {
    expectConfigError({ ...good(), scan_orders: 5 }, 'scan_orders');
    expectConfigError({ ...good(), scan_orders: 0 }, 'scan_orders');
    expectConfigError({ ...good(), dim: 100, head_dim: 32 }, 'head_dim'); // expand*dim = 200 not a multiple of 32
    expectConfigError({ ...good(), time_freq_dim: 255 }, 'time_freq_dim');
    expectConfigError({ ...good(), patch_size: 0 }, 'patch_size');
  });

  it('every shipped variant is within LIQUIDFLOW_LIMITS, MAX_TOKENS and MAX_PARAMS', () => {
    for (const name of Object.keys(LIQUIDFLOW_VARIANTS)) {
      const cfg = resolveConfig(name);
      for (const [k, limit] of Object.entries(LIQUIDFLOW_LIMITS)) expect(cfg[k as keyof typeof LIQUIDFLOW_LIMITS], `${name}.${k}`).toBeLessThanOrEqual(limit);
      expect((cfg.img_size / cfg.patch_size) ** 2).toBeLessThanOrEqual(MAX_TOKENS);
      expect(countParams(cfg)).toBeLessThanOrEqual(MAX_PARAMS);
    }
  });

  // Absurd sizes from a typo or a hostile config.json / model metadata: refused before anything is sized from them.
  for (const [field, value] of [
    ['img_size', 1e9], ['depth', 100000], ['dim', 1e6], ['patch_size', 4096], ['head_dim', 2 ** 31], ['d_state', 1e5],
    ['d_conv', 1000], ['expand', 1000], ['mlp_ratio', 1000], ['cfc_dim', 1e7], ['time_freq_dim', 1e6], ['in_channels', 1000],
  ] as const) {
    it(`${field} ${value} is refused, naming the field, the value and the limit`, () => {
      const limit = LIQUIDFLOW_LIMITS[field];
      expect(value).toBeGreaterThan(limit);
      expectConfigError({ ...good(), [field]: value }, `'${field}'`, String(value), `limit of ${limit}`);
    });
  }

  it('a value at its limit passes the per-field check (depth 64, img_size 1024 at patch 4)', () => {
    expect((validateConfig({ ...good(), depth: LIQUIDFLOW_LIMITS.depth, dim: 64, head_dim: 32 }, WHERE) as LiquidFlowConfig).depth).toBe(64);
    expect(validateConfig({ ...good(), img_size: 1024, patch_size: 4, dim: 64, head_dim: 32, depth: 2 }, WHERE).img_size).toBe(1024);
  });

  it('img_size 0 (or below patch_size) is refused: a model with no tokens', () => {
    expectConfigError({ ...good(), img_size: 0 }, 'img_size 0', 'patch_size 4');
    expectConfigError({ ...good(), img_size: 2, patch_size: 4 }, 'img_size 2', 'patch_size 4');
  });

  it('too many tokens (img_size 2048 at patch_size 4) is refused, naming both and the limit', () => {
    expectConfigError({ ...good(), img_size: 2048, patch_size: 4 }, 'img_size 2048', 'patch_size 4', '262144 tokens', String(MAX_TOKENS));
  });

  it('fields each within limits but together too many parameters are refused, naming the count and the limit', () => {
    expectConfigError({ ...good(), dim: 4096, depth: 64, head_dim: 64 }, 'parameters', `limit of ${MAX_PARAMS}`, 'dim 4096', 'depth 64');
  });

  it('resolveConfig applies the same validation to overrides', () => {
    expect(() => resolveConfig('tiny', { img_size: 130 })).toThrow(ConfigError);
    expect(() => resolveConfig('tiny', { img_size: 130 })).toThrow(/variant 'tiny'.*img_size 130/);
  });
});
