// LiquidFlow's DiM options (seed 001): pad_tokens, smoothers, scan_schedule. Their config fields (absent = today's
// model), DiM's scan schedule against a port of DiM's own layer loop, and what each option does to the traced graph.
// Values (ORT vs TF.js, gradients) are held in packages/exporter/test/dim-options.test.ts and the trainer's tests.
import { describe, expect, it } from 'vitest';
import {
  ConfigError, type LiquidFlowConfig, OnnxOps, dimLayerDirections, modelForward, paramSpecs, rasterOrder, relativeOrder, resolveConfig,
  scanOrder, validateConfig,
} from '@liquidflow/core';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

/**
 * DiM's SequenceIndexSet._init_scan_patterns layer loop (encoder_start_blk_id 0, no random patterns), ported line by
 * line: the pattern index of each layer, into [H+, H-, V+, V-] cut to `cycle`.
 */
function dimReferenceChain(numLayers: number, cycle: number): number[] {
  const mid = Math.floor(numLayers / 2);
  const mod = (a: number) => ((a % cycle) + cycle) % cycle;
  let cnt = 0;
  const out: number[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    if (layer === numLayers - 1) cnt = 0;
    else if (layer < mid) cnt = mod(cnt + 1);
    else if (layer === mid) cnt = numLayers % 2 === 0 ? mod(cnt - 1) : mod(cnt);
    else cnt = mod(cnt - 1);
    out.push(cnt);
  }
  return out;
}

describe('config fields', () => {
  const tiny = resolveConfig('tiny', { img_size: 32 });

  it("absent (a config written before they existed), they take the model as it was: pad_tokens 0, smoothers 'pixels', scan_schedule 'snake'", () => {
    const { pad_tokens, smoothers, scan_schedule, ...old } = tiny;
    // A new tiny takes DiM's scan schedule (its variant file says why); the other two stay as they were.
    expect({ pad_tokens, smoothers, scan_schedule }).toEqual({ pad_tokens: 0, smoothers: 'pixels', scan_schedule: 'dim' });
    expect(validateConfig(old, 'old.json')).toEqual({ ...tiny, scan_schedule: 'snake' });
    expect(resolveConfig('small').scan_schedule).toBe('snake');
  });

  it('a bad value fails naming the file, the field and the allowed values', () => {
    expect(thrown(() => validateConfig({ ...tiny, smoothers: 'pixel' }, 'ckpt/config.json')).message)
      .toBe(`ckpt/config.json: field 'smoothers' must be one of pixels, tokens, got "pixel"`);
    expect(thrown(() => validateConfig({ ...tiny, scan_schedule: 3 }, 'm.onnx')).message)
      .toBe(`m.onnx: field 'scan_schedule' must be one of snake, dim, got 3`);
    const e = thrown(() => validateConfig({ ...tiny, pad_tokens: -1 }, 'c.json'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(`c.json: field 'pad_tokens' must be a non-negative integer, got -1`);
    expect(thrown(() => validateConfig({ ...tiny, pad_tokens: 17 }, 'c.json')).message).toBe(`c.json: field 'pad_tokens' is 17, above the limit of 16`);
  });

  it('the token limit counts the padding', () => {
    // 1020 px at patch 4 is a 255-token grid (65025 tokens, under 65536); 2 padding rows and columns make 257^2.
    expect(() => validateConfig({ ...tiny, img_size: 1020, pad_tokens: 1 }, 'c.json')).not.toThrow(/tokens/);
    expect(thrown(() => validateConfig({ ...tiny, img_size: 1020, pad_tokens: 2 }, 'c.json')).message).toContain('with pad_tokens 2 makes 66049 tokens');
  });
});

describe("DiM's scan schedule", () => {
  it("matches DiM's own layer loop for every depth 1..16 and cycle 1..4", () => {
    for (let depth = 1; depth <= 16; depth++) {
      for (let cycle = 1; cycle <= 4; cycle++) expect(dimLayerDirections(depth, cycle), `depth ${depth}, cycle ${cycle}`).toEqual(dimReferenceChain(depth, cycle));
    }
    expect(dimLayerDirections(8, 4)).toEqual([1, 2, 3, 0, 3, 2, 1, 0]); // tiny: H-, V+, V-, H+ | V-, V+, H-, H+
  });

  it('each long skip arrives in the order of the stream it joins, and the last layer scans raster order', () => {
    for (let depth = 1; depth <= 16; depth++) {
      const dirs = dimLayerDirections(depth, 4);
      const skips = Math.floor(depth / 2);
      for (let i = depth - skips; i < depth; i++) expect(dirs[depth - 1 - i], `depth ${depth}, block ${i}`).toBe(dirs[i - 1]);
      expect(dirs[depth - 1]).toBe(0);
    }
  });

  it('the four raster directions on a 2 x 3 grid, and the relative order between two of them', () => {
    expect(Array.from(rasterOrder(0, 2, 3).perm)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(rasterOrder(1, 2, 3).perm)).toEqual([5, 4, 3, 2, 1, 0]);
    expect(Array.from(rasterOrder(2, 2, 3).perm)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(rasterOrder(3, 2, 3).perm)).toEqual([5, 2, 4, 1, 3, 0]);
    const raster = Array.from({ length: 35 }, (_, i) => i * 10);
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        const from = rasterOrder(a, 5, 7);
        const to = rasterOrder(b, 5, 7);
        const inFrom = Array.from(from.perm, (k) => raster[k]);
        const rel = relativeOrder(from, to);
        expect(rel === undefined, `${from.name} -> ${to.name}`).toBe(a === b);
        expect(rel ? Array.from(rel, (k) => inFrom[k]) : inFrom).toEqual(Array.from(to.perm, (k) => raster[k]));
      }
    }
  });
});

describe('the traced graph of each option', () => {
  const base = resolveConfig('tiny', { img_size: 32 }); // 8 x 8 tokens, depth 8
  const trace = (cfg: LiquidFlowConfig) => {
    const ops = new OnnxOps();
    const x = ops.input('x', [-1, cfg.in_channels, cfg.img_size, cfg.img_size]);
    const v = modelForward(ops, cfg, x, ops.input('t', [-1]));
    expect(ops.shape(v)).toEqual([-1, cfg.in_channels, cfg.img_size, cfg.img_size]);
    const graph = ops.toGraph('m', [{ value: x, shape: ['N', 3, 32, 32] }], [{ value: v, name: 'v', shape: ['N', 3, 32, 32] }]);
    const initializer = new Map(graph.initializers.map((t) => [t.name, t]));
    // The token permutations: Gathers on axis 1 whose indices are a whole token sequence.
    const permutes = graph.nodes.filter((n) => n.opType === 'Gather').map((n) => initializer.get(n.inputs[1])!.dims[0]);
    return { permutes, params: new Map(paramSpecs(cfg).map((s) => [s.name, s.shape])) };
  };

  it("'snake' permutes to and back in every block; 'dim' once per change of direction and never to restore", () => {
    const snake = trace({ ...base, scan_schedule: 'snake' });
    expect(snake.permutes).toEqual(Array(2 * base.depth).fill(64));
    const dim = trace({ ...base, scan_schedule: 'dim' });
    // [1, 2, 3, 0, 3, 2, 1, 0]: each block's direction differs from the one before (raster to start).
    expect(dim.permutes).toEqual(Array(base.depth).fill(64));
    expect([...dim.params]).toEqual([...snake.params]);
    // depth 7: [1, 2, 3, 3, 2, 1, 0], the middle block keeps its predecessor's order.
    expect(trace({ ...base, depth: 7, scan_schedule: 'dim' }).permutes).toEqual(Array(6).fill(64));
  });

  it('pad_tokens: one [pad, D] parameter, and every scan order is built on the (g+pad)^2 grid', () => {
    for (const scan_schedule of ['snake', 'dim'] as const) {
      const t = trace({ ...base, pad_tokens: 3, scan_schedule });
      expect(t.params.get('pad_tokens')).toEqual([3, base.dim]);
      expect(new Set(t.permutes)).toEqual(new Set([11 * 11]));
    }
    expect(trace(base).params.has('pad_tokens')).toBe(false);
    expect(scanOrder(0, 11, 11).perm.length).toBe(121);
  });

  it("smoothers 'tokens': a token-grid conv after the blocks (last_conv) replaces the pixel refinement", () => {
    const pixels = trace(base).params;
    const tokens = trace({ ...base, smoothers: 'tokens' }).params;
    expect(pixels.get('refine_conv.weight')).toEqual([3, 3, 3]);
    expect(pixels.has('last_conv.weight')).toBe(false);
    expect(tokens.get('last_conv.weight')).toEqual([3, 3, base.dim]);
    expect(tokens.get('stem_conv.weight')).toEqual([3, 3, base.dim]);
    expect(tokens.has('refine_conv.weight')).toBe(false);
  });
});
