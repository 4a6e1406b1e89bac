// LiquidDiffusion: the whole network, top to bottom, written once against Ops (TF.js trains it, the ONNX builder exports
// it). Input x [B, C, H, W] (the noisy image x_t) and t [B] in [0, 1]; output the velocity v [B, C, H, W]. Maps are
// channels-last [B, H, W, C] inside, so every 1x1 conv is one matmul over the last axis. (Seed 002; README.md in this
// folder gives each choice the seed leaves open.)
//
//   t -> sinusoidal features -> MLP -> t_emb [B, E]
//   conv stem: 3x3 conv -> SiLU -> 3x3 conv                              [B, H, W, C0]
//   encoder: per stage, LiquidDiffusion blocks, then a stride-2 conv to the next stage's width (none after the last)
//   bottleneck: LiquidDiffusion blocks at the lowest resolution
//   decoder, the mirror: per stage from the lowest, a stride-2 up-conv from the stage below (none at the lowest), skip
//           fusion with the encoder's output at this resolution, LiquidDiffusion blocks
//   head: GroupNorm -> SiLU -> 3x3 conv                                  [B, H, W, C] -> [B, C, H, W]
//
// A LiquidDiffusion block: x += ParallelCfC(AdaLN(x, t), t); x += MultiScaleSpatialMix(x, t); x += FFN(AdaLN(x, t)).
import type { Ops } from '../../ops.js';
import { Scope } from '../../param-scope.js';
import { LN_EPS, adaLNModulation, modulate } from '../../layers/adaln.js';
import { conv2dLayer } from '../../layers/conv2d.js';
import { depthwiseConv } from '../../layers/depthwise-conv.js';
import { linearLayer } from '../../layers/linear.js';
import { timeEmbedding } from '../../layers/time-embedding.js';
import { type LiquidDiffusionConfig, liquidDiffusionDims as dims } from './config.js';

/** The output head's GroupNorm epsilon (PyTorch's default). */
const GN_EPS = 1e-5;
/** Kernel of ParallelCfC's shared-context depthwise conv (the seed's DWConv7x7). */
const CFC_CONTEXT_KERNEL = 7;
/** Kernel of the depthwise convs of ParallelCfC's g and h heads (the seed says only "DWConv"). */
const CFC_HEAD_KERNEL = 3;
/** MultiScaleSpatialMix's depthwise kernels; the largest sets the merged kernel's size. */
const MIX_KERNELS = [3, 5, 7] as const;

/** t_emb [B, E] -> [B, 1, 1, C]: a per-channel vector of the time step, to broadcast over a map. */
function timeVector<T>(p: Scope<T>, c: T, timeDim: number, channels: number): T {
  return p.ops.reshape(linearLayer(p, c, timeDim, channels), [-1, 1, 1, channels]);
}

/**
 * ParallelCfC (the seed's Eq. 10 for 2D maps): the closed-form CfC interpolation between a "from" state g and an
 * attractor h, gated by a liquid time constant of the input and of t, then a liquid relaxation residual whose weight
 * alpha = exp(-softplus(rho) |t|) keeps more of the input the less noisy the image is.
 */
function parallelCfC<T>(p: Scope<T>, h: T, c: T, t: T, channels: number, timeDim: number): T {
  const ops = p.ops;
  const C = channels;
  return p.run(() => {
    const context = depthwiseConv(p.child('dw'), h, C, CFC_CONTEXT_KERNEL);
    const backbone = ops.silu(linearLayer(p.child('backbone'), context, C, C)); // shared spatial context [B, H, W, C]
    const f = linearLayer(p.child('f'), backbone, C, C); // time-constant gate
    const head = (name: string) => linearLayer(p.child(`${name}.proj`), ops.silu(depthwiseConv(p.child(`${name}.dw`), backbone, C, CFC_HEAD_KERNEL)), C, C);
    const g = head('g'); // "from" state
    const attractor = head('h'); // "to" state
    const a = timeVector(p.child('time_a'), c, timeDim, C);
    const b = timeVector(p.child('time_b'), c, timeDim, C);
    const gate = p.label(ops.sigmoid(ops.sub(ops.mul(a, f), b)), 'gate');
    const cfc = ops.add(attractor, ops.mul(gate, ops.sub(g, attractor))); // gate g + (1 - gate) h
    // One relaxation rate per channel; rho = 0 starts every channel at alpha = 2^-|t|.
    const rate = ops.softplus(p.param('rho', [C], { kind: 'zeros' }));
    const alpha = p.label(ops.exp(ops.neg(ops.mul(ops.reshape(ops.abs(t), [-1, 1, 1, 1]), rate))), 'alpha'); // [B, 1, 1, C]
    return ops.add(cfc, ops.mul(alpha, ops.sub(h, cfc))); // alpha input + (1 - alpha) cfc
  });
}

/**
 * MultiScaleSpatialMix: depthwise 3x3, 5x5 and 7x7 convs and global average pooling, summed, then scaled and shifted
 * per channel by t (FiLM). No channel mixing: the block's 1x1 convs do that.
 */
function multiScaleSpatialMix<T>(p: Scope<T>, x: T, c: T, channels: number, timeDim: number): T {
  const ops = p.ops;
  const C = channels;
  const kMax = Math.max(...MIX_KERNELS);
  return p.run(() => {
    // The 'same' depthwise convs summed are one conv whose kernel is theirs summed, centred: one 7x7 conv instead of
    // three, with the seed's three kernels (and biases) as the parameters.
    let kernel: T | null = null;
    let bias: T | null = null;
    for (const k of MIX_KERNELS) {
      const s = p.child(`dw${k}`);
      const r = (kMax - k) / 2;
      const w = s.param('weight', [k, k, C], { kind: 'normal', std: 0.02 });
      const centred = r ? ops.pad(w, [[r, r], [r, r], [0, 0]]) : w;
      const b = s.param('bias', [C], { kind: 'zeros' });
      kernel = kernel === null ? centred : ops.add(kernel, centred);
      bias = bias === null ? b : ops.add(bias, b);
    }
    const local = ops.depthwiseConv2d(x, kernel as T, bias as T);
    const pooled = ops.reduceMean(ops.reduceMean(x, 1), 2); // [B, 1, 1, C]
    const global = ops.mul(pooled, p.param('pool.weight', [C], { kind: 'normal', std: 0.02 }));
    const [shift, scale] = adaLNModulation(p.child('film'), c, C, 2, { condDim: timeDim, spatialAxes: 2 });
    return modulate(ops, ops.add(local, global), shift, scale);
  });
}

function feedForward<T>(p: Scope<T>, h: T, channels: number, ratio: number): T {
  const hidden = channels * ratio;
  return linearLayer(p.child('fc2'), p.ops.gelu(linearLayer(p.child('fc1'), h, channels, hidden)), hidden, channels);
}

function liquidDiffusionBlock<T>(p: Scope<T>, x: T, c: T, t: T, channels: number, cfg: LiquidDiffusionConfig): T {
  const ops = p.ops;
  const E = dims(cfg).timeDim;
  return p.run(() => {
    const [shift1, scale1, shift2, scale2] = adaLNModulation(p.child('adaLN'), c, channels, 4, { condDim: E, spatialAxes: 2 });
    // AdaLN normalises each position over its channels (the LayerNorm of a token, as in DiT and ConvNeXt).
    x = ops.add(x, parallelCfC(p.child('cfc'), modulate(ops, ops.layerNorm(x, LN_EPS), shift1, scale1), c, t, channels, E));
    x = ops.add(x, multiScaleSpatialMix(p.child('mix'), x, c, channels, E));
    return ops.add(x, feedForward(p.child('ffn'), modulate(ops, ops.layerNorm(x, LN_EPS), shift2, scale2), channels, cfg.ffn_ratio));
  });
}

/**
 * Stride-2 2x2 conv [B, H, W, Cin] -> [B, H/2, W/2, Cout]: each 2x2 cell's pixels side by side on the channel axis (two
 * reshapes and a transpose), then one matmul.
 */
function downsample<T>(p: Scope<T>, x: T, cin: number, cout: number): T {
  const ops = p.ops;
  const [, h, w] = ops.shape(x);
  return p.run(() => {
    const rows = ops.reshape(x, [-1, h / 2, 2, w / 2, 2 * cin]); // [B, H/2, row in cell, W/2, (column in cell, Cin)]
    const cells = ops.reshape(ops.transpose(rows, [0, 1, 3, 2, 4]), [-1, h / 2, w / 2, 4 * cin]);
    return linearLayer(p, cells, 4 * cin, cout);
  });
}

/**
 * Stride-2 2x2 transposed conv [B, h, w, Cin] -> [B, 2h, 2w, Cout]: one matmul to a 2x2 cell per pixel, then the cells
 * laid out (downsample's reshapes in reverse).
 */
function upsample<T>(p: Scope<T>, x: T, cin: number, cout: number): T {
  const ops = p.ops;
  const [, h, w] = ops.shape(x);
  return p.run(() => {
    const cells = ops.reshape(linearLayer(p, x, cin, 4 * cout), [-1, h, w, 2, 2 * cout]); // [B, h, w, row in cell, (column, Cout)]
    return ops.reshape(ops.transpose(cells, [0, 1, 3, 2, 4]), [-1, 2 * h, 2 * w, cout]);
  });
}

/** Concatenates the encoder's map at this resolution onto the decoder's and projects 2C -> C (a 1x1 conv). */
function skipFusion<T>(p: Scope<T>, x: T, skip: T, channels: number): T {
  return p.run(() => linearLayer(p, p.ops.concat([x, skip], 3), 2 * channels, channels));
}

/** The velocity field v(x_t, t). */
export function liquidDiffusion<T>(ops: Ops<T>, cfg: LiquidDiffusionConfig, x: T, t: T): T {
  const root = new Scope(ops, '');
  const { stages, timeDim } = dims(cfg);
  const ch = cfg.channels;
  const c = timeEmbedding(root.child('t_embed'), t, cfg.time_freq_dim, timeDim); // t_emb [B, E]

  const stem = root.child('stem');
  let h = stem.run(() => {
    const img = ops.transpose(x, [0, 2, 3, 1]); // [B, H, W, C]
    return conv2dLayer(stem.child(2), ops.silu(conv2dLayer(stem.child(0), img, cfg.in_channels, ch[0])), ch[0], ch[0]);
  });

  const skips: T[] = [];
  for (let s = 0; s < stages; s++) {
    const enc = root.child('encoder').child(s);
    for (let i = 0; i < cfg.blocks[s]; i++) h = liquidDiffusionBlock(enc.child('blocks').child(i), h, c, t, ch[s], cfg);
    skips.push(h);
    if (s < stages - 1) h = downsample(enc.child('down'), h, ch[s], ch[s + 1]);
  }

  const mid = root.child('bottleneck');
  for (let i = 0; i < cfg.bottleneck_blocks; i++) h = liquidDiffusionBlock(mid.child(i), h, c, t, ch[stages - 1], cfg);

  for (let s = stages - 1; s >= 0; s--) {
    const dec = root.child('decoder').child(s);
    if (s < stages - 1) h = upsample(dec.child('up'), h, ch[s + 1], ch[s]);
    h = skipFusion(dec.child('fuse'), h, skips[s], ch[s]);
    for (let i = 0; i < cfg.blocks[s]; i++) h = liquidDiffusionBlock(dec.child('blocks').child(i), h, c, t, ch[s], cfg);
  }

  const head = root.child('head');
  return head.run(() => {
    const norm = head.child('norm');
    const normed = ops.add(
      ops.mul(ops.groupNorm(h, cfg.norm_groups, GN_EPS), norm.param('weight', [ch[0]], { kind: 'ones' })),
      norm.param('bias', [ch[0]], { kind: 'zeros' }),
    );
    // A small init: the velocity starts near 0 with every path live.
    const v = conv2dLayer(head.child('conv'), ops.silu(normed), ch[0], cfg.in_channels, 3, { std: 0.02 });
    return ops.transpose(v, [0, 3, 1, 2]); // [B, C, H, W]
  });
}
