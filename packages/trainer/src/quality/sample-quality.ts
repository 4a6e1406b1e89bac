// Scores a set of images against a dataset the way FID and improved precision/recall do, with the dataset's own
// feature network: Fréchet distance of the feature Gaussians, and k-NN manifold precision and recall (core math).
// The reference set is a fixed sample of the training split (the same for every model scored at a count, so scores
// compare); the real-data floor is what a held-out real set of the same size scores against it.
import {
  type FeatureStats, type ModelConfig, type SamplerName, type VelocityFn, Rng, featureStats, frechetDistance, precisionRecall, sample, toImages,
} from '@liquidflow/core';
import type { LiquidFlow } from '@liquidflow/runtime-node';
import { FeatureNetwork, shippedFeatureNet } from './feature-network.js';
import { type LabeledImages, type LabeledSplits, loadLabeledSplits, pick } from './labeled-sets.js';

export interface QualityScores {
  /** Fréchet distance in the feature network's space (lower is better; the floor is what real images score). */
  fd: number;
  /** Share of the images inside the reference set's k-NN manifold (realism). */
  precision: number;
  /** Share of the reference images inside the images' manifold (coverage). */
  recall: number;
}

/** A fixed-seed sample of `count` of the images (the same for every run at that count). */
function sampleOf(from: LabeledImages, count: number, stream: number): LabeledImages {
  const rng = new Rng(0, stream);
  const order = Array.from({ length: from.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return pick(from, order.slice(0, count));
}

export interface QualityEvaluatorOptions {
  dataset: string;
  dataDir?: string;
  /** Images per set: the reference, the held-out floor and each scored set. */
  count: number;
  /** The feature network (default: the shipped one for the dataset). */
  featureNet?: string;
  threads?: number;
  /** Called with the loaded splits' sizes (for a note when count was lowered to fit the held-out split). */
  onNote?: (line: string) => void;
}

export class QualityEvaluator {
  private constructor(
    readonly net: FeatureNetwork,
    readonly dataset: string,
    /** Images per set (the requested count, or the held-out split's size when that is smaller). */
    readonly count: number,
    private readonly reference: Float32Array,
    private readonly referenceStats: FeatureStats,
    /** A held-out real set of `count` images scored against the reference: the best a generator can expect. */
    readonly floor: QualityScores,
  ) {}

  static async create(o: QualityEvaluatorOptions): Promise<QualityEvaluator> {
    const path = o.featureNet ?? shippedFeatureNet(o.dataset);
    if (!path) throw new Error(`--dataset ${o.dataset}: no feature network is shipped for it (models/feature-nets/${o.dataset}/model.onnx); pass --features PATH`);
    const net = await FeatureNetwork.load(path, o.threads);
    if (net.config.dataset !== o.dataset) throw new Error(`${path}: a feature network for '${net.config.dataset}', not for --dataset ${o.dataset}`);
    const splits: LabeledSplits = await loadLabeledSplits(o.dataset, net.config.img_size, o.dataDir);
    const count = Math.min(o.count, splits.heldOut.count, splits.train.count);
    if (count < o.count) o.onNote?.(`--count ${o.count} is more than the ${splits.heldOut.count} held-out ${o.dataset} images: scoring sets of ${count}`);
    if (count < 4) throw new Error(`--count ${o.count}: need at least 4 images per set (k = 3 neighbours)`);
    const ref = sampleOf(splits.train, count, 0x72656631);
    const held = sampleOf(splits.heldOut, count, 0x68656c64);
    const reference = await net.embed(ref.pixels, count, ref.size);
    const referenceStats = featureStats(reference, count, net.width);
    const heldFeatures = await net.embed(held.pixels, count, held.size);
    const floor = score(reference, referenceStats, heldFeatures, count, net.width);
    return new QualityEvaluator(net, o.dataset, count, reference, referenceStats, floor);
  }

  /** Scores `count` RGB images [count, size, size, 3] (any size: resized to the network's input). */
  async score(pixels: Uint8Array, count: number, size: number): Promise<QualityScores> {
    if (count !== this.count) throw new RangeError(`score: expected ${this.count} images (the reference set's size), got ${count}`);
    const features = await this.net.embed(pixels, count, size);
    return score(this.reference, this.referenceStats, features, count, this.net.width);
  }

  async dispose(): Promise<void> {
    await this.net.dispose();
  }
}

function score(reference: Float32Array, referenceStats: FeatureStats, features: Float32Array, count: number, width: number): QualityScores {
  const fd = frechetDistance(referenceStats, featureStats(features, count, width));
  return { fd, ...precisionRecall(reference, count, features, count, width) };
}

/** Images as runtimes return them (RGBA bytes, one size) -> RGB bytes [N, S, S, 3], the layout datasets use. */
export function rgbaToRgb(images: readonly { width: number; height: number; data: Uint8ClampedArray }[]): Uint8Array {
  const plane = images[0].width * images[0].height;
  const out = new Uint8Array(images.length * plane * 3);
  images.forEach((img, n) => {
    if (img.width * img.height !== plane) throw new RangeError(`image ${n} is ${img.width}x${img.height}, the first is ${images[0].width}x${images[0].height}`);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[(n * plane + p) * 3 + c] = img.data[p * 4 + c];
  });
  return out;
}

/** Images per sampling call when generating a scored set, and the seed of each call: one set per --seed, everywhere. */
export const QUALITY_CHUNK = 64;
export const chunkSeed = (seed: number, chunk: number) => (seed * 65536 + chunk) >>> 0;

/** `count` images from a velocity function (the trainer's EMA weights), as RGB bytes [count, S, S, 3]. */
export async function generateForQuality(velocity: VelocityFn, config: ModelConfig, count: number, steps: number, seed: number, sampler: SamplerName = 'euler'): Promise<Uint8Array> {
  const { in_channels: c, img_size: s } = config;
  const out = new Uint8Array(count * s * s * 3);
  for (let at = 0, i = 0; at < count; at += QUALITY_CHUNK, i++) {
    const n = Math.min(QUALITY_CHUNK, count - at);
    const x = await sample(velocity, { count: n, channels: c, size: s, steps, sampler, seed: chunkSeed(seed, i) });
    out.set(rgbaToRgb(toImages(x, n, c, s)), at * s * s * 3);
  }
  return out;
}

/**
 * `count` images from a loaded model (runtime-node, as liquidflow-eval and the bench score exported models), as RGB
 * bytes [count, S, S, 3]; the same chunks and seeds as generateForQuality, so both score the same images.
 * onProgress gets fractional images done.
 */
export async function generateFromModel(
  model: LiquidFlow, count: number, o: { steps: number; sampler: SamplerName; seed: number }, onProgress?: (done: number) => void,
): Promise<Uint8Array> {
  const s = model.config.img_size;
  const out = new Uint8Array(count * s * s * 3);
  for (let at = 0, i = 0; at < count; at += QUALITY_CHUNK, i++) {
    const n = Math.min(QUALITY_CHUNK, count - at);
    const images = await model.generate({
      count: n, steps: o.steps, sampler: o.sampler, seed: chunkSeed(o.seed, i), onProgress: (p) => onProgress?.(at + (n * p.step) / p.total),
    });
    out.set(rgbaToRgb(images), at * s * s * 3);
  }
  return out;
}
