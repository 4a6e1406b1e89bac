// The feature network of the sample-quality metric (the role Inception-v3 plays in FID): a small convolutional
// classifier trained on a dataset's labels, whose pooled last-stage activations embed an image. Written once against
// Ops, so the ONNX training step (training-step.ts) trains it and the exported graph embeds images for
// liquidflow-eval; nothing downloads a pretrained network.
//
//   x [B, C, S, S] in [-1, 1] -> NHWC -> 3 x (2x2 patch merge + linear + ReLU, then a residual
//   depthwise 3x3 -> ReLU -> pointwise block) -> mean over the 4x4 grid -> features [B, F] -> linear -> logits [B, K]
import type { Ops } from './ops.js';
import type { ParamSpec } from './param-init.js';
import { OnnxOps, type SymValue } from './ops-onnx.js';
import { Scope } from './param-scope.js';
import { type StepLoss } from './training-step.js';

export interface FeatureNetConfig {
  /** The dataset whose labels trained it (names the metric: "FD (fashion-mnist features)"). */
  dataset: string;
  /** Class names, in label order. */
  classes: string[];
  in_channels: number;
  /** Input side; every image is resized to it the way the trainer resizes data. */
  img_size: number;
  /** Channels of the three stages; the last is the feature width. */
  widths: [number, number, number];
}

export const FEATURE_NET_FORMAT = 'liquidflow-feature-net';

/** Checks a config read from a file before any graph is built from it. */
export function validateFeatureNetConfig(c: FeatureNetConfig, where: string): void {
  const int = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!Array.isArray(c.classes) || c.classes.length < 2 || c.classes.length > 1000 || !c.classes.every((n) => typeof n === 'string')) {
    throw new RangeError(`${where}: classes must be 2 to 1000 names`);
  }
  if (!int(c.in_channels, 1, 4)) throw new RangeError(`${where}: in_channels must be 1 to 4, got ${c.in_channels}`);
  if (!int(c.img_size, 8, 256) || c.img_size % 8 !== 0) throw new RangeError(`${where}: img_size must be a multiple of 8 in [8, 256], got ${c.img_size}`);
  if (!Array.isArray(c.widths) || c.widths.length !== 3 || !c.widths.every((w) => int(w, 1, 1024))) {
    throw new RangeError(`${where}: widths must be three channel counts in [1, 1024]`);
  }
}

/** 2x2 patch merge of NHWC x: [B, H, W, C] -> [B, H/2, W/2, 4C]. */
function mergePatches<T>(ops: Ops<T>, x: T): T {
  const [, h, w, c] = ops.shape(x);
  const split = ops.reshape(x, [-1, h / 2, 2, w / 2, 2, c]);
  return ops.reshape(ops.transpose(split, [0, 1, 3, 2, 4, 5]), [-1, h / 2, w / 2, 4 * c]);
}

function stage<T>(s: Scope<T>, x: T, cin: number, cout: number): T {
  const { ops } = s;
  return s.run(() => {
    const down = ops.relu(ops.linear(mergePatches(ops, x), s.param('down.weight', [4 * cin, cout], { kind: 'normal', std: Math.sqrt(2 / (4 * cin)) }), s.param('down.bias', [cout], { kind: 'zeros' })));
    const mixed = ops.relu(ops.depthwiseConv2d(down, s.param('dw.weight', [3, 3, cout], { kind: 'normal', std: Math.sqrt(2 / 9) }), s.param('dw.bias', [cout], { kind: 'zeros' })));
    // Zero-initialised output: each block starts as the identity, which trains quickly without normalisation.
    const out = ops.linear(mixed, s.param('pw.weight', [cout, cout], { kind: 'zeros' }), s.param('pw.bias', [cout], { kind: 'zeros' }));
    return ops.relu(ops.add(down, out));
  });
}

/** Features [B, F] (the pooled last stage) and class logits [B, K] of images x [B, C, S, S] in [-1, 1]. */
export function featureNet<T>(ops: Ops<T>, cfg: FeatureNetConfig, x: T): { features: T; logits: T } {
  const root = new Scope(ops, '');
  let h = ops.transpose(x, [0, 2, 3, 1]);
  let cin = cfg.in_channels;
  cfg.widths.forEach((w, i) => {
    h = stage(root.child(`stages.${i}`), h, cin, w);
    cin = w;
  });
  const [, gh, gw, f] = ops.shape(h);
  const features = ops.reshape(ops.reduceMean(ops.reshape(h, [-1, gh * gw, f]), 1), [-1, f]);
  const head = root.child('head');
  const logits = head.run(() => ops.linear(features, head.param('weight', [f, cfg.classes.length], { kind: 'normal', std: 0.01 }), head.param('bias', [cfg.classes.length], { kind: 'zeros' })));
  return { features, logits };
}

export function featureNetSpecs(cfg: FeatureNetConfig): ParamSpec[] {
  const ops = new OnnxOps();
  featureNet(ops, cfg, ops.input('x', [-1, cfg.in_channels, cfg.img_size, cfg.img_size]));
  return ops.specs;
}

/**
 * Mean softmax cross-entropy of logits [B, K] against one-hot targets [B, K]. Log-softmax is computed after
 * subtracting each row's mean (Ops has no max; the logits of a net this size stay far from exp's float32 range).
 */
export function crossEntropy<T>(ops: Ops<T>, logits: T, oneHot: T): T {
  const k = ops.shape(logits)[1];
  const z = ops.sub(logits, ops.reduceMean(logits, 1));
  const logSumExp = ops.add(ops.log(ops.reduceMean(ops.exp(z), 1)), Math.log(k));
  const picked = ops.mul(ops.reduceMean(ops.mul(oneHot, ops.sub(z, logSumExp)), 1), k); // [B, 1]: log p(label)
  return ops.reshape(ops.neg(ops.reduceMean(ops.reshape(picked, [1, -1]), 1)), []);
}

/** The classifier's training loss for buildAdamWStep: inputs 'images' [B, C, S, S], 'labels' one-hot [B, K]. */
export function featureNetLoss(cfg: FeatureNetConfig, batch: number): (ops: OnnxOps) => StepLoss {
  return (ops) => {
    const image = [batch, cfg.in_channels, cfg.img_size, cfg.img_size];
    const images = ops.input('images', image);
    const labels = ops.input('labels', [batch, cfg.classes.length]);
    const { logits } = featureNet(ops, cfg, images);
    const loss = crossEntropy(ops, logits, labels);
    return {
      total: loss,
      inputs: [{ value: images, shape: image }, { value: labels, shape: [batch, cfg.classes.length] }],
      outputs: [{ value: loss, name: 'loss', shape: [] }, { value: logits, name: 'logits_out', shape: [batch, cfg.classes.length] }],
    };
  };
}

/** The inference graph, weights as initializers: x [N, C, S, S] -> features [N, F], logits [N, K]. */
export function buildFeatureNetGraph(cfg: FeatureNetConfig, weights: Record<string, Float32Array>) {
  const ops = new OnnxOps({ weights });
  const s = cfg.img_size;
  const x = ops.input('x', [-1, cfg.in_channels, s, s]);
  const { features, logits } = featureNet(ops, cfg, x);
  const f = cfg.widths[2];
  return ops.toGraph(`liquidflow_feature_net_${cfg.dataset}`, [{ value: x, shape: ['N', cfg.in_channels, s, s] }], [
    { value: features, name: 'features', shape: ['N', f] },
    { value: logits, name: 'logits', shape: ['N', cfg.classes.length] },
  ]);
}
