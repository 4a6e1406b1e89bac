// LiquidFlow's DiM options through the export: ORT vs TF.js for each option and all together (tiny's structure at a
// quarter of its width, 32 px, batch 1 and 4, within the --verify tolerance); the padding layout against a port of
// DiM's lateral_token_pad on both executors; a resized (--img_size) export keeps the padding tokens.
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import {
  type LiquidFlowConfig, OnnxOps, Rng, Scope, insertPadTokens, removePadTokens, resolveConfig, weightsForImageSize,
} from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';
import { VERIFY_TOLERANCE, buildGraph, encodeModel, maxAbsDiff, runOrt, runTfjs, verificationBatch } from '@liquidflow/exporter';
import { perturbedWeights } from './weights-fixture.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
});

const small = (o: Partial<LiquidFlowConfig>) => resolveConfig('tiny', { img_size: 32, dim: 64, head_dim: 32, time_freq_dim: 32, ...o });

async function expectParity(cfg: LiquidFlowConfig, label: string) {
  const weights = perturbedWeights(cfg, 7);
  const bytes = encodeModel(buildGraph(cfg, weights).graph, {});
  for (const batch of [1, 4]) {
    const { x, t, dims } = verificationBatch(cfg, batch, batch);
    const ortOut = await runOrt(bytes, x, t, dims);
    const tfOut = await runTfjs(cfg, weights, x, t, dims);
    expect(tfOut.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 'the output is not trivially small').toBeGreaterThan(0.1);
    const err = maxAbsDiff(ortOut, tfOut);
    console.log(`${label} batch ${batch}: max |ORT - TF.js| ${err.toExponential(2)}`);
    expect(err, `${label} batch ${batch}`).toBeLessThanOrEqual(VERIFY_TOLERANCE);
  }
  return weights;
}

describe('ORT vs TF.js parity of each DiM option (tiny structure, dim 64, 32 px)', () => {
  const CASES: [string, Partial<LiquidFlowConfig>][] = [
    // tiny's default schedule is 'dim' now: the snakes (every older model) are a case of their own.
    ["scan_schedule 'snake'", { scan_schedule: 'snake' }],
    ['pad_tokens 3', { pad_tokens: 3 }],
    ["smoothers 'tokens'", { smoothers: 'tokens' }],
    ["scan_schedule 'dim'", { scan_schedule: 'dim' }],
    ["scan_schedule 'dim', depth 7 (a middle block without a skip)", { scan_schedule: 'dim', depth: 7 }],
    ['all three', { pad_tokens: 3, smoothers: 'tokens', scan_schedule: 'dim' }],
  ];
  for (const [label, o] of CASES) it(`${label}, batch 1 and 4`, () => expectParity(small(o), label));

  it('every option changes the output (none is silently ignored)', async () => {
    const cfg = small({ scan_schedule: 'snake' });
    const weights = perturbedWeights(cfg, 7);
    const { x, t, dims } = verificationBatch(cfg, 2, 3);
    const today = await runTfjs(cfg, weights, x, t, dims);
    const dim = await runTfjs({ ...cfg, scan_schedule: 'dim' }, weights, x, t, dims);
    expect(maxAbsDiff(today, dim)).toBeGreaterThan(1e-3);
    const padded = { ...cfg, pad_tokens: 2 };
    const withPad = await runTfjs(padded, perturbedWeights(padded, 7), x, t, dims);
    expect(maxAbsDiff(today, withPad)).toBeGreaterThan(1e-3);
  });
});

describe("scan_schedule 'dim' moves tokens only: with the SSM branch off, it gives 'snake''s output", () => {
  // alpha = sigmoid(-100) mixes in no SSM; everything left is per token, so any schedule must give the same output,
  // and a wrong restore or a long skip joined in another order would not.
  for (const pad_tokens of [0, 2]) {
    it(`pad_tokens ${pad_tokens}, depth 8 and 7`, async () => {
      for (const depth of [8, 7]) {
        const cfg = small({ pad_tokens, depth });
        const weights = perturbedWeights(cfg, 11);
        for (const k of Object.keys(weights)) if (k.endsWith('alpha_logit')) weights[k].fill(-100);
        const { x, t, dims } = verificationBatch(cfg, 2, 4);
        const snake = await runTfjs(cfg, weights, x, t, dims);
        const dim = await runTfjs({ ...cfg, scan_schedule: 'dim' }, weights, x, t, dims);
        expect(maxAbsDiff(snake, dim), `depth ${depth}`).toBeLessThan(1e-5);
      }
    });
  }
});

/** DiM's lateral_token_pad (adapter_attn4mamba.py), ported: tokens [B, g*g, D], pad [pad, D] -> [B, G*G, D]. */
function dimLateralPad(x: Float32Array, b: number, g: number, d: number, pad: Float32Array, p: number): Float32Array {
  const G = g + p;
  const out = new Float32Array(b * G * G * d);
  for (let n = 0; n < b; n++) {
    // torch.cat([x, pad expanded over the H rows], -1), then torch.cat([that, pad row k over all W+p columns], -2)
    for (let r = 0; r < G; r++) {
      for (let c = 0; c < G; c++) {
        for (let e = 0; e < d; e++) {
          const v = r < g && c < g ? x[((n * g + r) * g + c) * d + e] : r < g ? pad[(c - g) * d + e] : pad[(r - g) * d + e];
          out[((n * G + r) * G + c) * d + e] = v;
        }
      }
    }
  }
  return out;
}

describe("padding tokens: DiM's lateral layout", () => {
  const cfg = small({ img_size: 20, pad_tokens: 3, dim: 5, head_dim: 5 }); // a 5 x 5 grid padded to 8 x 8
  const [b, g, d, p] = [2, 5, 5, 3];
  const x = new Rng(1).fillNormal(new Float32Array(b * g * g * d));
  const pad = new Rng(2).fillNormal(new Float32Array(p * d));
  const want = dimLateralPad(x, b, g, d, pad, p);

  it('ONNX graph: inserts as DiM does (right columns, bottom rows with the corner) and removes exactly', async () => {
    const ops = new OnnxOps({ weights: { pad_tokens: pad } });
    const input = ops.input('h', [-1, g * g, d]);
    const padded = insertPadTokens(new Scope(ops, ''), cfg, input);
    const back = removePadTokens(ops, cfg, padded);
    const graph = ops.toGraph('pad', [{ value: input, shape: ['N', g * g, d] }], [
      { value: padded, name: 'padded', shape: ['N', 64, d] }, { value: back, name: 'back', shape: ['N', g * g, d] },
    ]);
    const session = await ort.InferenceSession.create(encodeModel(graph, {}));
    const out = await session.run({ h: new ort.Tensor('float32', x, [b, g * g, d]) });
    await session.release();
    expect(Array.from(out.padded.data as Float32Array)).toEqual(Array.from(want));
    expect(Array.from(out.back.data as Float32Array)).toEqual(Array.from(x));
  });

  it('TF.js: the same values, and the gradient of a pad vector sums over the cells it fills', () => {
    const v = tf.variable(tf.tensor(pad, [p, d]));
    const ops = new TfOps(new Map([['pad_tokens', v]]));
    const { value, grads } = tf.variableGrads(() => tf.sum(insertPadTokens(new Scope(ops, ''), cfg, tf.tensor(x, [b, g * g, d]))) as tf.Scalar, [v]);
    value.dispose();
    const padded = insertPadTokens(new Scope(ops, ''), cfg, tf.tensor(x, [b, g * g, d]));
    expect(Array.from(padded.dataSync())).toEqual(Array.from(want));
    // Vector k fills column g+k on g rows and row g+k on all G columns, in each of the b images.
    expect(Array.from(grads[v.name].dataSync())).toEqual(Array(p * d).fill(b * (g + g + p)));
    ops.dispose();
    v.dispose();
  });
});

describe('resizing (liquidflow-export --img_size, liquidflow-train --init_from)', () => {
  it('32 -> 64 px: the padding tokens carry over unchanged and the resized export holds parity', async () => {
    const from = small({ pad_tokens: 3, smoothers: 'tokens', scan_schedule: 'dim' });
    const weights = perturbedWeights(from, 5);
    const to = { ...from, img_size: 64 };
    const resized = weightsForImageSize(weights, from, to);
    expect(resized.pad_tokens).toEqual(weights.pad_tokens);
    expect(resized.pos_embed.length).toBe(16 * 16 * from.dim);
    const { x, t, dims } = verificationBatch(to, 2, 1);
    const err = maxAbsDiff(await runOrt(encodeModel(buildGraph(to, resized).graph, {}), x, t, dims), await runTfjs(to, resized, x, t, dims));
    expect(err).toBeLessThanOrEqual(VERIFY_TOLERANCE);
  });
});
