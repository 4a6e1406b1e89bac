// LiquidFlow: the whole network, top to bottom, written once against Ops (TF.js trains it, the ONNX builder exports it).
// Input x [B, C, H, W] (the noisy image x_t) and t [B] in [0, 1]; output the velocity v [B, C, H, W].
//
//   patchify -> linear -> + 2D position embedding -> + depthwise conv      tokens [B, L, D]
//   [pad_tokens: DiM's learnable padding rows and columns, the grid becomes (g+pad)^2]
//   depth x LiquidSSM block (AdaLN on t; zigzag-ordered selective SSM || Liquid CfC, alpha mix; GELU FFN),
//           U-Net long skips from the first half of the blocks to the second
//   [padding removed; smoothers 'tokens': + depthwise conv on the token grid]
//   AdaLN final norm -> linear -> unpatchify [smoothers 'pixels': -> + depthwise conv refinement on pixels]
//
// scan_schedule 'snake' permutes each block's SSM input into its zigzag order and back; 'dim' keeps the tokens in scan
// order between blocks (DiM's mirrored raster schedule, dim-scan-schedule.ts) and restores raster order once.
import type { Ops } from '../../ops.js';
import { Scope } from '../../param-scope.js';
import { selectiveScan } from '../../selective-scan.js';
import { selectiveScanChannel } from '../../selective-scan-channel.js';
import { type ScanOrder, scanOrder } from '../../zigzag-order.js';
import { dimLayerDirections, rasterOrder, relativeOrder } from '../../dim-scan-schedule.js';
import { LN_EPS, adaLNModulation, modulate } from '../../layers/adaln.js';
import { cfcBranch } from '../../layers/cfc-branch.js';
import { depthwiseResidual } from '../../layers/depthwise-conv.js';
import { linearLayer } from '../../layers/linear.js';
import { timeEmbedding } from '../../layers/time-embedding.js';
import { type LiquidFlowConfig, liquidFlowDims as dims } from './config.js';

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

/**
 * Mamba-2-style selective SSM (cfg.ssm 'head') on tokens in scan order: in_proj -> causal depthwise conv1d over x, B, C
 * -> SiLU; input-dependent dt per head; A = -exp(A_log) per head; selective scan; + D skip; * SiLU(z) gate; out_proj.
 */
function headSSM<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T): T {
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

/**
 * Mamba-1's selective SSM (cfg.ssm 'channel', as in state-spaces/mamba's mamba_simple.py and DiM): in_proj -> x, z;
 * causal depthwise conv1d over x -> SiLU; x_proj -> low-rank dt, B, C; dt = softplus(dt_proj(dt)) per channel;
 * A = -exp(A_log) per channel and state; selective scan; + D skip; * SiLU(z) gate; out_proj.
 */
function channelSSM<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T): T {
  const ops = p.ops;
  const { inner, dtRank: r } = dims(cfg);
  const n = cfg.d_state;
  return p.run(() => {
    const proj = linearLayer(p.child('in_proj'), x, cfg.dim, 2 * inner, { bias: false });
    const z = ops.slice(proj, 2, 0, inner);
    const convW = p.param('conv1d.weight', [cfg.d_conv, inner], { kind: 'normal', std: 1 / Math.sqrt(cfg.d_conv) });
    const convB = p.param('conv1d.bias', [inner], { kind: 'zeros' });
    const xs = ops.silu(ops.causalConv1d(ops.slice(proj, 2, inner, 2 * inner), convW, convB)); // [B, L, inner]
    const xdbl = linearLayer(p.child('x_proj'), xs, inner, r + 2 * n, { bias: false });
    const Bm = ops.slice(xdbl, 2, r, r + n);
    const Cm = ops.slice(xdbl, 2, r + n, r + 2 * n);
    const dtW = p.param('dt_proj.weight', [r, inner], { kind: 'uniform', bound: 1 / Math.sqrt(r) });
    const dtB = p.param('dt_proj.bias', [inner], { kind: 'dt_bias' });
    const dt = p.label(ops.softplus(ops.linear(ops.slice(xdbl, 2, 0, r), dtW, dtB)), 'dt'); // [B, L, inner]
    // Stored flat: AdamW decays rank >= 2 parameters only, and Mamba-1 exempts A_log from weight decay.
    const aLog = p.param('A_log', [inner * n], { kind: 's4d_real', state: n });
    const A = ops.neg(ops.exp(ops.reshape(aLog, [inner, n]))); // [inner, N], < 0
    let y = p.label(selectiveScanChannel(ops, xs, dt, A, Bm, Cm), 'scan');
    y = ops.add(y, ops.mul(xs, p.param('D', [inner], { kind: 'ones' })));
    y = ops.mul(y, ops.silu(z));
    return linearLayer(p.child('out_proj'), y, inner, cfg.dim, { bias: false });
  });
}

/** The block's SSM, in the form cfg.ssm picks. */
function selectiveSSM<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T): T {
  return cfg.ssm === 'channel' ? channelSSM(p, cfg, x) : headSSM(p, cfg, x);
}

/**
 * One LiquidSSM block. With `order`, its SSM permutes the tokens into that order and back (the order rotates through
 * the stack); without, the tokens already arrive in the order to scan (scan_schedule 'dim').
 */
function liquidSSMBlock<T>(p: Scope<T>, cfg: LiquidFlowConfig, x: T, c: T, order: ScanOrder | undefined): T {
  const ops = p.ops;
  const d = cfg.dim;
  const { cfcDim } = dims(cfg);
  return p.run(() => {
    const [shift1, scale1, gate1, shift2, scale2, gate2] = adaLNModulation(p.child('adaLN'), c, d, 6);

    const h = modulate(ops, ops.layerNorm(x, LN_EPS), shift1, scale1); // [B, L, D]
    // The SSM runs in this layer's scan order; the CfC branch is per token, so it needs no reordering.
    const ssm = order
      ? ops.permute(selectiveSSM(p.child('ssm'), cfg, ops.permute(h, 1, order.perm)), 1, order.inverse)
      : selectiveSSM(p.child('ssm'), cfg, h);
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

/**
 * DiM's learnable padding, 'lateral' schedule (adapter_attn4mamba.py, lateral_token_pad): tokens [B, g*g, D] ->
 * [B, G*G, D], G = g + pad. Right-hand column k holds pad vector k on every image row; bottom row k holds vector k
 * across all G columns, corner included. Zero padding plus a [G*G, D] table (a 0/1 placement matrix times the
 * vectors), so no op beyond pad, matmul and a broadcast add is needed and the batch stays dynamic.
 */
export function insertPadTokens<T>(root: Scope<T>, cfg: LiquidFlowConfig, h: T): T {
  const ops = root.ops;
  const { grid: g, padded: G } = dims(cfg);
  const pad = cfg.pad_tokens;
  const d = cfg.dim;
  const vectors = root.param('pad_tokens', [pad, d], { kind: 'normal', std: 0.02 }); // DiM: randn * 0.02
  const placement = ops.constant(`pad_tokens.placement_${g}_${pad}`, [G * G, pad], () => {
    const m = new Float32Array(G * G * pad);
    for (let r = 0; r < G; r++) {
      for (let c = 0; c < G; c++) {
        const k = r >= g ? r - g : c >= g ? c - g : -1;
        if (k >= 0) m[(r * G + c) * pad + k] = 1;
      }
    }
    return m;
  });
  const zeroPadded = ops.pad(ops.reshape(h, [-1, g, g, d]), [[0, 0], [0, pad], [0, pad], [0, 0]]);
  return ops.add(ops.reshape(zeroPadded, [-1, G * G, d]), ops.reshape(ops.matmul(placement, vectors), [1, G * G, d]));
}

/** [B, G*G, D] -> [B, g*g, D]: the padding rows and columns dropped (DiM's lateral_token_unpad). */
export function removePadTokens<T>(ops: Ops<T>, cfg: LiquidFlowConfig, h: T): T {
  const { grid: g, padded: G } = dims(cfg);
  const map = ops.reshape(h, [-1, G, G, cfg.dim]);
  return ops.reshape(ops.slice(ops.slice(map, 1, 0, g), 2, 0, g), [-1, g * g, cfg.dim]);
}

/** The velocity field v(x_t, t). */
export function liquidFlow<T>(ops: Ops<T>, cfg: LiquidFlowConfig, x: T, t: T): T {
  const root = new Scope(ops, '');
  const { grid, padded, tokens, patchDim, skips } = dims(cfg);
  const d = cfg.dim;

  const c = timeEmbedding(root.child('t_embed'), t, cfg.time_freq_dim, d); // [B, D]
  let h = patchEmbed(root.child('patch_embed'), cfg, x); // [B, L, D]
  h = ops.add(h, root.param('pos_embed', [1, tokens, d], { kind: 'sincos2d', grid }));
  h = depthwiseResidual(root.child('stem_conv'), h, grid, d);
  if (cfg.pad_tokens > 0) h = insertPadTokens(root, cfg, h);

  // 'dim': the order h is in now (raster to start); each block moves it straight to its own order.
  const dimOrders = cfg.scan_schedule === 'dim' ? dimLayerDirections(cfg.depth, cfg.scan_orders).map((k) => rasterOrder(k, padded, padded)) : undefined;
  let current = rasterOrder(0, padded, padded);
  const skipStack: { h: T; order: ScanOrder }[] = [];
  for (let i = 0; i < cfg.depth; i++) {
    const b = root.child('blocks').child(i);
    if (i >= cfg.depth - skips) {
      // U-Net long skip: fuse the mirror block's output back in, concat then project 2D -> D.
      const skip = skipStack.pop() as { h: T; order: ScanOrder };
      if (skip.order !== current) throw new Error(`liquidFlow: block ${i}'s long skip is in order ${skip.order.name}, its input in ${current.name}`);
      h = b.child('skip').run(() => linearLayer(b.child('skip'), ops.concat([h, skip.h], 2), 2 * d, d));
    }
    if (dimOrders) {
      const rel = relativeOrder(current, dimOrders[i]);
      if (rel) h = ops.permute(h, 1, rel);
      current = dimOrders[i];
      h = liquidSSMBlock(b, cfg, h, c, undefined);
    } else {
      h = liquidSSMBlock(b, cfg, h, c, scanOrder(i, padded, padded, cfg.scan_orders));
    }
    if (i < skips) skipStack.push({ h, order: current });
  }
  // DiM's schedule ends on H+, so this restore is a no-op there; kept so the invariant never rests on that.
  const restore = relativeOrder(current, rasterOrder(0, padded, padded));
  if (restore) h = ops.permute(h, 1, restore);
  if (cfg.pad_tokens > 0) h = removePadTokens(ops, cfg, h);
  if (cfg.smoothers === 'tokens') h = depthwiseResidual(root.child('last_conv'), h, grid, d); // DiM's last smoother, residual like stem_conv

  const f = root.child('final');
  const out = f.run(() => {
    const [shift, scale] = adaLNModulation(f.child('adaLN'), c, d, 2);
    const y = linearLayer(f.child('linear'), modulate(ops, ops.layerNorm(h, LN_EPS), shift, scale), d, patchDim, { std: 0.02 });
    return unpatchify(ops, cfg, y); // [B, H, W, C]
  });
  const img = cfg.img_size;
  const refined = cfg.smoothers === 'pixels'
    ? ops.reshape(depthwiseResidual(root.child('refine_conv'), ops.reshape(out, [-1, img * img, cfg.in_channels]), img, cfg.in_channels), [-1, img, img, cfg.in_channels])
    : out;
  return ops.transpose(refined, [0, 3, 1, 2]); // [B, C, H, W]
}
