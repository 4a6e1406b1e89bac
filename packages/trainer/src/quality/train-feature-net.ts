// Trains a dataset's feature network from its labels on onnxruntime: core's generic AdamW step graph around the
// feature net's cross-entropy (the same engine and gradient rules that train LiquidFlow), random horizontal flips,
// warm-up then linear decay to zero. The EMA weights are shipped, with their held-out accuracy in the file.
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import {
  type FeatureNetConfig, FEATURE_NET_FORMAT, ProgressBar, Rng, buildAdamWStep, featureNetLoss, featureNetSpecs, flatten, initWeights, unflatten,
} from '@liquidflow/core';
import { openSession } from '@liquidflow/runtime-node';
import { writeFileAtomic } from '@liquidflow/checkpoint';
import { learningRate } from '../lr-schedule.js';
import { encodeModel } from '@liquidflow/exporter';
import { FeatureNetwork, type FeatureNetRecord, encodeFeatureNet, imagesToInput } from './feature-network.js';
import { type LabeledDataset, loadLabeledSplits } from './labeled-sets.js';

export interface FeatureNetTrainOptions {
  dataset: LabeledDataset;
  dataDir?: string;
  /** Where the .onnx goes (written atomically). */
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  imgSize: number;
  widths: [number, number, number];
  threads?: number;
  /** The command line, recorded in the file for its card. */
  command: string;
  log?: (line: string) => void;
}

export const FEATURE_NET_DEFAULTS = { epochs: 15, batch: 128, lr: 2e-3, seed: 0, imgSize: 32, widths: [32, 64, 128] as [number, number, number] };

/** Mirrors each image of an NCHW batch left-right where flip[i] is set. */
function flipRows(x: Float32Array, n: number, c: number, s: number, flip: boolean[]): void {
  for (let i = 0; i < n; i++) {
    if (!flip[i]) continue;
    for (let row = 0; row < c * s; row++) x.subarray((i * c * s + row) * s, (i * c * s + row + 1) * s).reverse();
  }
}

export async function trainFeatureNet(o: FeatureNetTrainOptions): Promise<FeatureNetRecord> {
  const log = o.log ?? ((l: string) => console.log(l));
  const started = performance.now();
  const data = await loadLabeledSplits(o.dataset, o.imgSize, o.dataDir);
  const cfg: FeatureNetConfig = {
    dataset: o.dataset, classes: data.classes, in_channels: o.dataset === 'fashion-mnist' ? 1 : 3, img_size: o.imgSize, widths: o.widths,
  };
  const { train, heldOut } = data;
  const k = cfg.classes.length;
  log(`${o.dataset}: ${train.count} training and ${heldOut.count} held-out images, ${k} classes, from ${data.source}`);

  const specs = featureNetSpecs(cfg);
  const adam = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, clipNorm: 1 };
  const built = buildAdamWStep(`feature_net_${o.dataset}_train_step`, specs, adam, featureNetLoss(cfg, o.batch));
  const { session } = await openSession(encodeModel(built.graph, {}), 'cpu', o.threads, 'the feature-net training step');
  const P = built.layout.size;
  let state: Record<'weights' | 'adam_m' | 'adam_v' | 'ema', Float32Array> = { weights: flatten(built.layout, initWeights(specs, o.seed)), adam_m: new Float32Array(P), adam_v: new Float32Array(P), ema: new Float32Array(P) };
  state.ema = state.weights.slice();

  const perEpoch = Math.floor(train.count / o.batch);
  const total = perEpoch * o.epochs;
  const warmup = Math.min(200, Math.floor(total / 10));
  const rng = new Rng(o.seed, 0x66656174);
  const { in_channels: c, img_size: s } = cfg;
  const per = s * s * 3;
  const bar = new ProgressBar(total, { unit: 'steps', plainEveryMs: 10_000 });
  const vec = (d: Float32Array) => new ort.Tensor('float32', d, [P]);
  const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = Array.from({ length: train.count }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let lossSum = 0;
    let right = 0;
    for (let b = 0; b < perEpoch; b++) {
      const idx = order.slice(b * o.batch, (b + 1) * o.batch);
      const bytes = new Uint8Array(o.batch * per);
      const oneHot = new Float32Array(o.batch * k);
      idx.forEach((j, i) => {
        bytes.set(train.pixels.subarray(j * per, (j + 1) * per), i * per);
        oneHot[i * k + train.labels[j]] = 1;
      });
      const x = imagesToInput(cfg, bytes, o.batch, s);
      flipRows(x, o.batch, c, s, idx.map(() => rng.uniform() < 0.5));
      const t = step + 1;
      const out = await session.run({
        ...Object.fromEntries(Object.entries(state).map(([n, v]) => [n, vec(v)])),
        images: new ort.Tensor('float32', x, [o.batch, c, s, s]), labels: new ort.Tensor('float32', oneHot, [o.batch, k]),
        lr: scalar(learningRate(step, warmup, o.lr, total - warmup, total)),
        bias_correction1: scalar(1 - Math.pow(adam.beta1, t)), bias_correction2: scalar(1 - Math.pow(adam.beta2, t)),
        ema_decay: scalar(Math.min(0.999, (1 + step) / (10 + step))),
      });
      const loss = (out.loss.data as Float32Array)[0];
      if (!Number.isFinite(loss)) throw new Error(`feature network: loss became ${loss} at step ${step}; try a lower --lr`);
      state = { weights: out.weights_out.data as Float32Array, adam_m: out.adam_m_out.data as Float32Array, adam_v: out.adam_v_out.data as Float32Array, ema: out.ema_out.data as Float32Array };
      const logits = out.logits_out.data as Float32Array;
      idx.forEach((j, i) => {
        let best = 0;
        for (let q = 1; q < k; q++) if (logits[i * k + q] > logits[i * k + best]) best = q;
        if (best === train.labels[j]) right++;
      });
      lossSum += loss;
      step++;
      bar.update(step, `epoch ${epoch + 1}/${o.epochs} loss ${(lossSum / (b + 1)).toFixed(4)} train acc ${(right / ((b + 1) * o.batch)).toFixed(3)}`);
    }
  }
  bar.done();
  await session.release();

  const weights = unflatten(built.layout, state.ema);
  const draft: FeatureNetRecord = {
    format: FEATURE_NET_FORMAT, version: 1, config: cfg, held_out_accuracy: 0, held_out_count: heldOut.count, train_count: train.count,
    epochs: o.epochs, steps: total, batch: o.batch, seconds: 0, command: o.command,
  };
  const net = await FeatureNetwork.fromBytes(encodeFeatureNet(draft, weights), o.out, o.threads);
  const accuracy = await net.accuracy(heldOut.pixels, heldOut.labels, heldOut.size);
  await net.dispose();
  const record = { ...draft, held_out_accuracy: accuracy, seconds: Math.round((performance.now() - started) / 1000) };
  await mkdir(dirname(o.out), { recursive: true });
  await writeFileAtomic(o.out, encodeFeatureNet(record, weights));
  log(`held-out accuracy ${(accuracy * 100).toFixed(2)}% on ${heldOut.count} images; wrote ${o.out}`);
  return record;
}
