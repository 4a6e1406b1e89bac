// The seeded PRNG and the per-parameter init streams: same seed -> same numbers, the sampler has the right moments, and
// a parameter's initial value depends only on its own name, spec and the seed.
import { describe, expect, it } from 'vitest';
import { Rng, hashString, initParam, initWeights, resolveConfig, initModelWeights, type ParamSpec } from '@liquidflow/core';

const draw = (rng: Rng, n: number, f: (r: Rng) => number) => Array.from({ length: n }, () => f(rng));

describe('Rng', () => {
  it('same seed and stream give identical sequences', () => {
    expect(draw(new Rng(42, 3), 1000, (r) => r.nextUint32())).toEqual(draw(new Rng(42, 3), 1000, (r) => r.nextUint32()));
    expect(draw(new Rng(42, 3), 1000, (r) => r.normal())).toEqual(draw(new Rng(42, 3), 1000, (r) => r.normal()));
    expect(new Rng(7).fillNormal(new Float32Array(257), 2, 1)).toEqual(new Rng(7).fillNormal(new Float32Array(257), 2, 1));
  });

  it('different seeds differ, and different streams of one seed differ', () => {
    const seqs = [
      draw(new Rng(0), 64, (r) => r.nextUint32()),
      draw(new Rng(1), 64, (r) => r.nextUint32()),
      draw(new Rng(2), 64, (r) => r.nextUint32()),
      draw(new Rng(0, 1), 64, (r) => r.nextUint32()),
      draw(new Rng(0, 2), 64, (r) => r.nextUint32()),
      draw(new Rng(1, 1), 64, (r) => r.nextUint32()),
    ];
    for (let i = 0; i < seqs.length; i++) {
      for (let j = i + 1; j < seqs.length; j++) {
        // Not just different somewhere: nearly every draw differs.
        const same = seqs[i].filter((v, k) => v === seqs[j][k]).length;
        expect(same, `sequences ${i} and ${j}`).toBeLessThan(2);
      }
    }
  });

  it('nextUint32 gives 32-bit unsigned integers with all bits in use', () => {
    const rng = new Rng(5);
    let or = 0;
    let and = 0xffffffff;
    for (let i = 0; i < 10_000; i++) {
      const v = rng.nextUint32();
      if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 32)) throw new Error(`nextUint32() returned ${v}`);
      or = (or | v) >>> 0;
      and = (and & v) >>> 0;
    }
    expect(or).toBe(0xffffffff);
    expect(and).toBe(0);
  });

  it('uniform() is in [0, 1) with mean 1/2 and variance 1/12', () => {
    const rng = new Rng(123);
    const n = 100_000;
    let sum = 0;
    let sq = 0;
    let lo = Infinity;
    let hi = -Infinity;
    const bins = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      if (!(u >= 0 && u < 1)) throw new Error(`uniform() returned ${u}`);
      sum += u;
      sq += u * u;
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      bins[Math.floor(u * 10)]++;
    }
    const mean = sum / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(sq / n - mean * mean - 1 / 12)).toBeLessThan(0.005);
    expect(lo).toBeLessThan(1e-3);
    expect(hi).toBeGreaterThan(1 - 1e-3);
    for (const b of bins) expect(Math.abs(b / n - 0.1)).toBeLessThan(0.01);
  });

  it('normal() over 100k draws has mean ~0 and std ~1 and normal tails', () => {
    const rng = new Rng(2024, 1);
    const n = 100_000;
    let sum = 0;
    let sq = 0;
    let within1 = 0;
    let beyond3 = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      if (!Number.isFinite(z)) throw new Error(`normal() returned ${z}`);
      sum += z;
      sq += z * z;
      if (Math.abs(z) < 1) within1++;
      if (Math.abs(z) > 3) beyond3++;
    }
    const mean = sum / n;
    const std = Math.sqrt(sq / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(std - 1)).toBeLessThan(0.02);
    expect(Math.abs(within1 / n - 0.6827)).toBeLessThan(0.01); // P(|z| < 1)
    expect(beyond3 / n).toBeLessThan(0.0027 * 2); // P(|z| > 3) = 0.0027
    expect(beyond3).toBeGreaterThan(0);
  });

  it('fillNormal applies std and mean', () => {
    const a = new Rng(9).fillNormal(new Float32Array(50_000), 0.5, 3);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean - 3)).toBeLessThan(0.02);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.02);
  });

  it('hashString is FNV-1a 32-bit', () => {
    // Published FNV-1a test vectors.
    expect(hashString('')).toBe(0x811c9dc5);
    expect(hashString('a')).toBe(0xe40c292c);
    expect(hashString('foobar')).toBe(0xbf9cf968);
  });
});

describe('initWeights', () => {
  const specs: ParamSpec[] = [
    { name: 'a.weight', shape: [16, 8], init: { kind: 'xavier' } },
    { name: 'a.bias', shape: [8], init: { kind: 'zeros' } },
    { name: 'b.weight', shape: [4, 4, 3], init: { kind: 'normal', std: 0.02 } },
    { name: 'ssm.A_log', shape: [6], init: { kind: 'a_log' } },
    { name: 'ssm.dt_bias', shape: [6], init: { kind: 'dt_bias' } },
    { name: 'ssm.D', shape: [5], init: { kind: 'ones' } },
  ];

  it('is deterministic in the seed', () => {
    expect(initWeights(specs, 3)).toEqual(initWeights(specs, 3));
    const a = initWeights(specs, 3);
    const b = initWeights(specs, 4);
    for (const name of ['a.weight', 'b.weight', 'ssm.A_log', 'ssm.dt_bias']) expect(a[name]).not.toEqual(b[name]);
  });

  it('adding, removing or reordering specs does not change the other parameters', () => {
    const before = initWeights(specs, 11);
    const extra: ParamSpec = { name: 'new.weight', shape: [32, 32], init: { kind: 'normal', std: 1 } };
    const extra2: ParamSpec = { name: 'new2.bias', shape: [7], init: { kind: 'dt_bias' } };
    const withExtra = initWeights([extra, ...specs.slice(0, 3), extra2, ...specs.slice(3)], 11);
    const reversed = initWeights([...specs].reverse(), 11);
    const subset = initWeights(specs.filter((s) => s.name !== 'a.weight'), 11);
    for (const s of specs) {
      expect(withExtra[s.name]).toEqual(before[s.name]);
      expect(reversed[s.name]).toEqual(before[s.name]);
      if (s.name !== 'a.weight') expect(subset[s.name]).toEqual(before[s.name]);
    }
  });

  it('two parameters with the same init but different names get different values', () => {
    const w = initWeights(
      [
        { name: 'x.weight', shape: [64], init: { kind: 'normal', std: 1 } },
        { name: 'y.weight', shape: [64], init: { kind: 'normal', std: 1 } },
      ],
      0,
    );
    expect(w['x.weight']).not.toEqual(w['y.weight']);
  });

  it('each init kind produces values in its defined range', () => {
    const w = initWeights(specs, 1);
    const bound = Math.sqrt(6 / (16 + 8));
    expect(w['a.weight'].every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Math.max(...w['a.weight'].map(Math.abs))).toBeGreaterThan(bound / 2);
    expect(w['a.bias'].every((v) => v === 0)).toBe(true);
    expect(w['ssm.D'].every((v) => v === 1)).toBe(true);
    // A = exp(A_log) in [1, 16].
    for (const v of w['ssm.A_log']) expect(Math.exp(v) >= 1 - 1e-6 && Math.exp(v) <= 16 + 1e-4).toBe(true);
    // softplus(dt_bias) in [1e-3, 1e-1].
    for (const v of w['ssm.dt_bias']) {
      const dt = Math.log1p(Math.exp(v));
      expect(dt).toBeGreaterThan(1e-3 * 0.999);
      expect(dt).toBeLessThan(1e-1 * 1.001);
    }
  });

  it('sincos2d position table follows its definition', () => {
    const grid = 3;
    const dim = 8;
    const t = initParam({ name: 'pos_embed', shape: [1, grid * grid, dim], init: { kind: 'sincos2d', grid } }, 0);
    const q = dim / 4;
    for (let r = 0; r < grid; r++) {
      for (let c = 0; c < grid; c++) {
        for (let k = 0; k < q; k++) {
          const w = 1 / Math.pow(10000, k / q);
          const base = (r * grid + c) * dim;
          expect(t[base + k]).toBeCloseTo(Math.sin(r * w), 6);
          expect(t[base + q + k]).toBeCloseTo(Math.cos(r * w), 6);
          expect(t[base + 2 * q + k]).toBeCloseTo(Math.sin(c * w), 6);
          expect(t[base + 3 * q + k]).toBeCloseTo(Math.cos(c * w), 6);
        }
      }
    }
  });

  it('model weights: deterministic in the seed, and a deeper model keeps the shallower one\'s shared parameters', () => {
    const cfg = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
    const a = initModelWeights(cfg, 5);
    expect(initModelWeights(cfg, 5)).toEqual(a);
    const other = initModelWeights(cfg, 6);
    expect(a['blocks.0.ssm.in_proj.weight']).not.toEqual(other['blocks.0.ssm.in_proj.weight']);
    // depth 3 adds block 2 (and keeps block 0 the same: names and shapes unchanged).
    const deeper = initModelWeights({ ...cfg, depth: 3 }, 5);
    expect(Object.keys(deeper).length).toBeGreaterThan(Object.keys(a).length);
    for (const name of ['blocks.0.ssm.in_proj.weight', 'blocks.0.cfc.backbone.weight', 't_embed.mlp.0.weight', 'pos_embed']) {
      expect(deeper[name]).toEqual(a[name]);
    }
  });
});
