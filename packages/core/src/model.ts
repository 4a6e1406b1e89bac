// LiquidFlow: the whole network, top to bottom, written once against Ops (TF.js trains it, the ONNX builder exports it).
// Input x [B, C, H, W] (the noisy image x_t) and t [B] in [0, 1]; output the velocity v [B, C, H, W].
//
//   patchify -> linear -> + 2D position embedding -> + depthwise conv      tokens [B, L, D]
//   depth x LiquidSSM block (AdaLN on t; zigzag-ordered selective SSM || Liquid CfC, alpha mix; GELU FFN),
//           U-Net long skips from the first half of the blocks to the second
//   AdaLN final norm -> linear -> unpatchify -> + depthwise conv refinement
import { type LiquidFlowConfig, dims } from './config.js';
import type { Ops } from './ops.js';
import { Scope } from './param-scope.js';
import { selectiveScan } from './selective-scan.js';
import { cfcBranch } from './cfc-branch.js';
import { scanOrder } from './zigzag-order.js';

const LN_EPS = 1e-6;
/** Std of the normal init of the AdaLN projections: small, so blocks start near identity but every path is live. */
const ADALN_STD = 0.02;

function linearLayer<T>(p: Scope<T>, x: T, fanIn: number, fanOut: number, opts: { bias?: boolean; std?: number } = {}): T {
  const w = p.param('weight', [fanIn, fanOut], opts.std === undefined ? { kind: 'xavier' } : { kind: 'normal', std: opts.std });
  const b = opts.bias === false ? undefined : p.param('bias', [fanOut], { kind: 'zeros' });
  return p.ops.linear(x, w, b);
}

/** Sinusoidal features of t (scaled to [0, 1000]) -> MLP -> SiLU: the conditioning vector c [B, D]. */
function timeEmbedding<T>(p: Scope<T>, cfg: LiquidFlowConfig, t: T): T {
  const ops = p.ops;
  return p.run(() => {
    const half = cfg.time_freq_dim / 2;
    const freqs = ops.constant(`t_embed.freqs_${half}`, [1, half], () =>
      Float32Array.from({ length: half }, (_, i) => 1000 * Math.exp((-Math.log(10000) * i) / half)),
    );
    const args = ops.mul(ops.reshape(t, [-1, 1]), freqs); // [B, half]
    const feats = ops.concat([ops.cos(args), ops.sin(args)], 1); // [B, time_freq_dim]
    const h = ops.silu(linearLayer(p.child('mlp.0'), feats, cfg.time_freq_dim, cfg.dim, { std: 0.02 }));
    return ops.silu(linearLayer(p.child('mlp.2'), h, cfg.dim, cfg.dim, { std: 0.02 }));
  });
}

/** [B, C, H, W] -> [B, L, p*p*C] -> linear -> [B, L, D]; plain reshapes and one matmul (no conv kernel needed). */
function patchEmbed<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T): T {
  const ops = p.ops;
  const { grid, tokens, patchDim } = dims(cfg);
  const ps = cfg.patch_size;
  return p.run(() => {
    const patches = ops.reshape(
      ops.transpose(ops.reshape(x, [-1, cfg.in_channels, grid, ps, grid, ps]), [0, 2, 4, 3, 5, 1]), // [B, gh, gw, p, p, C]
      [-1, tokens, patchDim],
    );
    return linearLayer(p.child('proj'), patches, patchDim, cfg.dim);
  });
}

/** [B, L, p*p*C] -> [B, H, W, C] (channels last, for the refinement conv). */
function unpatchify<T>(ops: Ops<T>, cfg: LiquidFlowConfig, x: T): T {
  const { grid } = dims(cfg);
  const ps = cfg.patch_size;
  const y = ops.transpose(ops.reshape(x, [-1, grid, grid, ps, ps, cfg.in_channels]), [0, 1, 3, 2, 4, 5]);
  return ops.reshape(y, [-1, cfg.img_size, cfg.img_size, cfg.in_channels]);
}

/** x + depthwise k x k conv of x, on tokens [B, L, C] laid out as a grid x grid map. */
function depthwiseResidual<T>(p: Scope<T>, x: T, grid: number, channels: number, k = 3): T {
  const ops = p.ops;
  return p.run(() => {
    const map = ops.reshape(x, [-1, grid, grid, channels]);
    const conv = ops.depthwiseConv2d(map, p.param('weight', [k, k, channels], { kind: 'normal', std: 0.02 }), p.param('bias', [channels], { kind: 'zeros' }));
    return ops.add(x, ops.reshape(conv, [-1, grid * grid, channels]));
  });
}

/** AdaLN modulation: x * (1 + scale) + shift, with shift and scale [B, D] broadcast over tokens. */
function modulate<T>(ops: Ops<T>, x: T, shift: T, scale: T): T {
  return ops.add(ops.mul(x, ops.add(scale, 1)), shift);
}

/** Cut the AdaLN projection [B, n*D] into n vectors, each [B, 1, D] ready to broadcast over tokens. */
function chunks<T>(ops: Ops<T>, x: T, n: number, d: number): T[] {
  const rows = ops.reshape(x, [-1, n, d]); // one reshape, then each slice is already [B, 1, D]
  return Array.from({ length: n }, (_, i) => ops.slice(rows, 1, i, i + 1));
}

/**
 * Mamba-style selective SSM on tokens in scan order: in_proj -> causal depthwise conv1d -> SiLU ->
 * input-dependent dt, B, C; A = -exp(A_log); selective scan; + D skip; * SiLU(z) gate; out_proj.
 */
function selectiveSSM<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T): T {
  const ops = p.ops;
  const { inner, heads } = dims(cfg);
  const n = cfg.d_state;
  return p.run(() => {
    const proj = linearLayer(p.child('in_proj'), x, cfg.dim, 2 * inner + 2 * n + heads, { bias: false });
    const z = ops.slice(proj, 2, 0, inner);
    const xbcRaw = ops.slice(proj, 2, inner, 2 * inner + 2 * n);
    const dtRaw = ops.slice(proj, 2, 2 * inner + 2 * n, 2 * inner + 2 * n + heads);
    const convW = p.param('conv1d.weight', [cfg.d_conv, inner + 2 * n], { kind: 'normal', std: 1 / Math.sqrt(cfg.d_conv) });
    const convB = p.param('conv1d.bias', [inner + 2 * n], { kind: 'zeros' });
    const xbc = ops.silu(ops.causalConv1d(xbcRaw, convW, convB));
    const xs = ops.slice(xbc, 2, 0, inner);
    const Bm = ops.slice(xbc, 2, inner, inner + n);
    const Cm = ops.slice(xbc, 2, inner + n, inner + 2 * n);
    const dt = p.label(ops.softplus(ops.add(dtRaw, p.param('dt_bias', [heads], { kind: 'dt_bias' }))), 'dt'); // [B, L, heads]
    const A = ops.neg(ops.exp(p.param('A_log', [heads], { kind: 'a_log' }))); // [heads], < 0
    let y = p.label(selectiveScan(ops, xs, dt, A, Bm, Cm, heads), 'scan');
    y = ops.add(y, ops.mul(xs, p.param('D', [inner], { kind: 'ones' })));
    y = ops.mul(y, ops.silu(z));
    return linearLayer(p.child('out_proj'), y, inner, cfg.dim, { bias: false });
  });
}

/** One LiquidSSM block; `layer` picks the zigzag order, so the scan direction rotates through the stack. */
function liquidSSMBlock<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T, c: T, layer: number): T {
  const ops = p.ops;
  const d = cfg.dim;
  const { grid, cfcDim } = dims(cfg);
  return p.run(() => {
    const mod = linearLayer(p.child('adaLN'), c, d, 6 * d, { std: ADALN_STD });
    const [shift1, scale1, gate1, shift2, scale2, gate2] = chunks(ops, mod, 6, d);

    const h = modulate(ops, ops.layerNorm(x, LN_EPS), shift1, scale1); // [B, L, D]
    // The SSM runs in this layer's scan order; the CfC branch is per token, so it needs no reordering.
    const order = scanOrder(layer, grid, grid, cfg.scan_orders);
    const ssm = ops.permute(selectiveSSM(p.child('ssm'), cfg, ops.permute(h, 1, order.perm)), 1, order.inverse);
    const liquid = cfcBranch(p.child('cfc'), h, d, cfcDim);
    const alpha = ops.sigmoid(p.param('alpha_logit', [d], { kind: 'zeros' })); // learnable mix, starts at 0.5
    const mixed = p.label(ops.add(liquid, ops.mul(alpha, ops.sub(ssm, liquid))), 'mix'); // alpha*ssm + (1-alpha)*cfc
    x = ops.add(x, ops.mul(gate1, mixed));

    const h2 = modulate(ops, ops.layerNorm(x, LN_EPS), shift2, scale2);
    const hidden = d * cfg.mlp_ratio;
    const ffn = linearLayer(p.child('ffn.fc2'), ops.gelu(linearLayer(p.child('ffn.fc1'), h2, d, hidden)), hidden, d);
    return ops.add(x, ops.mul(gate2, ffn));
  });
}

/** The velocity field v(x_t, t). */
export function liquidFlow<T>(ops: Ops<T>, cfg: LiquidFlowConfig, x: T, t: T): T {
  const root = new Scope(ops, '');
  const { grid, tokens, patchDim, skips } = dims(cfg);
  const d = cfg.dim;

  const c = timeEmbedding(root.child('t_embed'), cfg, t); // [B, D]
  let h = patchEmbed(root.child('patch_embed'), cfg, x); // [B, L, D]
  h = ops.add(h, root.param('pos_embed', [1, tokens, d], { kind: 'sincos2d', grid }));
  h = depthwiseResidual(root.child('stem_conv'), h, grid, d);

  const skipStack: T[] = [];
  for (let i = 0; i < cfg.depth; i++) {
    const b = root.child('blocks').child(i);
    if (i >= cfg.depth - skips) {
      // U-Net long skip: fuse the mirror block's output back in, concat then project 2D -> D.
      const skip = skipStack.pop() as T;
      h = b.child('skip').run(() => linearLayer(b.child('skip'), ops.concat([h, skip], 2), 2 * d, d));
    }
    h = liquidSSMBlock(b, cfg, h, c, i);
    if (i < skips) skipStack.push(h);
  }

  const f = root.child('final');
  const out = f.run(() => {
    const [shift, scale] = chunks(ops, linearLayer(f.child('adaLN'), c, d, 2 * d, { std: ADALN_STD }), 2, d);
    const y = linearLayer(f.child('linear'), modulate(ops, ops.layerNorm(h, LN_EPS), shift, scale), d, patchDim, { std: 0.02 });
    return unpatchify(ops, cfg, y); // [B, H, W, C]
  });
  const img = cfg.img_size;
  const refined = depthwiseResidual(root.child('refine_conv'), ops.reshape(out, [-1, img * img, cfg.in_channels]), img, cfg.in_channels);
  return ops.transpose(ops.reshape(refined, [-1, img, img, cfg.in_channels]), [0, 3, 1, 2]); // [B, C, H, W]
}
