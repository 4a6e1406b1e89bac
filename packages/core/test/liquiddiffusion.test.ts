// LiquidDiffusion's variants and config: the seed's widths and blocks, parameter counts pinned and within 10% of the
// seed's, and validation that names the field and the source.
import { describe, expect, it } from 'vitest';
import {
  ConfigError, LIQUIDDIFFUSION_DEFAULTS, LIQUIDDIFFUSION_LIMITS, LIQUIDDIFFUSION_VARIANTS, type LiquidDiffusionConfig, countParams, getFamily,
  paramSpecs, resolveConfig, validateConfig,
} from '@liquidflow/core';

// The seed's table (seed 002): channels and blocks per stage, its parameter count, and the count this reading gives
// (packages/core/src/families/liquiddiffusion/README.md says why they differ).
const SEED: Record<string, { channels: number[]; blocks: number[]; img: number; seedParams: number; params: number }> = {
  tiny: { channels: [64, 128, 256], blocks: [2, 2, 4], img: 256, seedParams: 8e6, params: 8_740_419 },
  small: { channels: [96, 192, 384], blocks: [2, 3, 6], img: 256, seedParams: 25e6, params: 26_332_899 },
  base: { channels: [128, 256, 512], blocks: [2, 4, 8], img: 512, seedParams: 65e6, params: 58_769_539 },
  large: { channels: [128, 256, 512, 768], blocks: [2, 4, 8, 4], img: 512, seedParams: 120e6, params: 114_057_347 },
};

const diffusion = (variant: string, over: Partial<LiquidDiffusionConfig> = {}) => resolveConfig(variant, { arch: 'liquiddiffusion', ...over });

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('liquiddiffusion variants', () => {
  it('ships exactly the seed variants', () => {
    expect(Object.keys(LIQUIDDIFFUSION_VARIANTS).sort()).toEqual(Object.keys(SEED).sort());
  });

  for (const [name, seed] of Object.entries(SEED)) {
    it(`${name}: the seed's channels, blocks and image size; ${(seed.params / 1e6).toFixed(2)}M parameters, within 10% of ~${seed.seedParams / 1e6}M`, () => {
      const cfg = diffusion(name);
      expect(cfg.channels).toEqual(seed.channels);
      expect(cfg.blocks).toEqual(seed.blocks);
      expect(cfg.bottleneck_blocks).toBe(2);
      expect(cfg.img_size).toBe(seed.img);
      const n = countParams(cfg);
      expect(n).toBe(seed.params);
      expect(Math.abs(n - seed.seedParams) / seed.seedParams).toBeLessThan(0.1);
    });
  }

  it('is fully convolutional: the same parameters at every image size', () => {
    const at = (img_size: number) => paramSpecs(diffusion('tiny', { img_size })).map((s) => `${s.name}:${s.shape}`);
    expect(at(16)).toEqual(at(256));
    expect(getFamily('liquiddiffusion').resizeWeights).toBeUndefined();
  });

  it('t_emb is channels[0] wide unless time_dim says otherwise, and every block reads it', () => {
    const shapes = (cfg: LiquidDiffusionConfig) => new Map(paramSpecs(cfg).map((s) => [s.name, s.shape]));
    const tiny = shapes(diffusion('tiny'));
    expect(tiny.get('t_embed.mlp.2.weight')).toEqual([64, 64]);
    expect(tiny.get('bottleneck.1.cfc.time_a.weight')).toEqual([64, 256]);
    expect(tiny.get('decoder.0.blocks.1.adaLN.weight')).toEqual([64, 4 * 64]);
    const wide = shapes(diffusion('tiny', { time_dim: 128 }));
    expect(wide.get('t_embed.mlp.2.weight')).toEqual([128, 128]);
    expect(wide.get('encoder.2.blocks.3.mix.film.weight')).toEqual([128, 2 * 256]);
  });

  it('mirrors the encoder: a skip fusion at every decoder stage, an up-conv between stages', () => {
    const names = new Set(paramSpecs(diffusion('large')).map((s) => s.name));
    for (let s = 0; s < 4; s++) {
      expect(names.has(`decoder.${s}.fuse.weight`)).toBe(true);
      expect(names.has(`decoder.${s}.up.weight`)).toBe(s < 3);
      expect(names.has(`encoder.${s}.down.weight`)).toBe(s < 3);
      expect(names.has(`decoder.${s}.blocks.${SEED.large.blocks[s] - 1}.cfc.rho`)).toBe(true);
      expect(names.has(`decoder.${s}.blocks.${SEED.large.blocks[s]}.cfc.rho`)).toBe(false);
    }
  });
});

describe('liquiddiffusion config validation', () => {
  const WHERE = 'ckpt/config.json';
  const good = (): Record<string, unknown> => ({ ...LIQUIDDIFFUSION_DEFAULTS });
  const message = (raw: Record<string, unknown>) => {
    const e = thrown(() => validateConfig(raw, WHERE));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message.startsWith(`${WHERE}: `)).toBe(true);
    return e.message;
  };

  it('accepts its defaults, in field order', () => {
    const cfg = validateConfig(good(), WHERE);
    expect(cfg).toEqual(LIQUIDDIFFUSION_DEFAULTS);
    expect(Object.keys(cfg)).toEqual(Object.keys(LIQUIDDIFFUSION_DEFAULTS));
  });

  it('a missing or malformed stage list names the field', () => {
    const { channels: _, ...noChannels } = good();
    expect(message(noChannels)).toBe(`${WHERE}: missing field 'channels'`);
    expect(message({ ...good(), blocks: 4 })).toContain("field 'blocks' must be a list of 1 to 6 positive integers");
    expect(message({ ...good(), blocks: [] })).toContain("field 'blocks' must be a list");
    expect(message({ ...good(), channels: [64, 0, 256] })).toContain("field 'channels' must be a list of positive integers, got [64,0,256]");
    expect(message({ ...good(), channels: [64, '128', 256] })).toContain("field 'channels'");
    expect(message({ ...good(), channels: [64, 128, 256, 512, 512, 512, 512], blocks: [1, 1, 1, 1, 1, 1, 1] })).toContain('1 to 6');
  });

  it('channels and blocks must have one entry per stage each', () => {
    expect(message({ ...good(), blocks: [2, 2] })).toBe(`${WHERE}: channels (3 stages) and blocks (2 stages) must have one entry per stage each`);
  });

  it('an entry or field above its limit names it, the value and the limit', () => {
    expect(message({ ...good(), channels: [64, 128, 1e6] })).toBe(`${WHERE}: field 'channels' has 1000000, above the limit of ${LIQUIDDIFFUSION_LIMITS.channels}`);
    expect(message({ ...good(), blocks: [2, 2, 1000] })).toContain(`'blocks' has 1000, above the limit of ${LIQUIDDIFFUSION_LIMITS.blocks}`);
    expect(message({ ...good(), bottleneck_blocks: 1e5 })).toContain(`'bottleneck_blocks' is 100000, above the limit of ${LIQUIDDIFFUSION_LIMITS.bottleneck_blocks}`);
    expect(message({ ...good(), img_size: 1e9 })).toContain(`'img_size' is 1000000000, above the limit of ${LIQUIDDIFFUSION_LIMITS.img_size}`);
  });

  it('img_size must be a multiple of 2^(stages - 1), naming the nearest sizes', () => {
    expect(message({ ...good(), img_size: 30 })).toBe(`${WHERE}: img_size 30 is not a positive multiple of 4 (3 stages halve it 2 times) (nearest: 28 or 32)`);
    expect(message({ ...good(), img_size: 0 })).toContain('(the smallest is 4)');
    expect(getFamily('liquiddiffusion').imageSizeProblem(diffusion('large'), 36)).toContain('multiple of 8');
    expect(getFamily('liquiddiffusion').imageSizeProblem(diffusion('large'), 40)).toBeUndefined();
  });

  it('norm_groups must divide channels[0]; time_freq_dim must be even', () => {
    expect(message({ ...good(), norm_groups: 48 })).toBe(`${WHERE}: channels[0] (64) must be a multiple of norm_groups (48)`);
    expect(message({ ...good(), time_freq_dim: 255 })).toContain('time_freq_dim must be even');
  });

  it('fields each within limits but too many parameters together are refused, naming the sizes', () => {
    expect(message({ ...good(), channels: [4096, 4096, 4096, 4096], blocks: [4, 4, 4, 4], img_size: 64, norm_groups: 32 })).toMatch(
      /parameters, above the limit of .*channels \[4096,4096,4096,4096\], blocks \[4,4,4,4\] \+ 2/,
    );
  });
});
