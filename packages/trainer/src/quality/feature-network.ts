// A trained feature network as one ONNX file (core feature-net.ts's graph, weights inside) with its config and
// training record in metadata_props, and the embedding of RGB images through it on onnxruntime-node.
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  FEATURE_NET_FORMAT, type FeatureNetConfig, ModelFileError, type Weights, buildFeatureNetGraph, readOnnxInfo, validateFeatureNetConfig,
} from '@liquidflow/core';
import { openSession } from '@liquidflow/runtime-node';
import { centerCropResize } from '../datasets/dataset.js';
import { encodeModel } from '@liquidflow/exporter';

/** How the network was trained and how well it classifies held-out images: what its card reports. */
export interface FeatureNetRecord {
  format: typeof FEATURE_NET_FORMAT;
  version: 1;
  config: FeatureNetConfig;
  /** Share of held-out images classified right. */
  held_out_accuracy: number;
  held_out_count: number;
  train_count: number;
  epochs: number;
  steps: number;
  batch: number;
  seconds: number;
  command: string;
}

const METADATA_KEY = 'liquidflow.feature_net';
/** A feature network is small by design; refuse to read anything that could not be one. */
const MAX_FILE_BYTES = 64 * 2 ** 20;

export function encodeFeatureNet(record: FeatureNetRecord, weights: Weights): Uint8Array {
  return encodeModel(buildFeatureNetGraph(record.config, weights), { [METADATA_KEY]: JSON.stringify(record) });
}

/** Where the shipped network of a dataset is: models/feature-nets/<dataset>/model.onnx in the repository. */
export function shippedFeatureNet(dataset: string): string | undefined {
  const here = fileURLToPath(import.meta.url); // packages/trainer/dist/<file> or packages/trainer/src/quality/<file>
  const candidates = [join(here, '../../../..'), join(here, '../../../../..'), process.cwd()].map((root) => join(root, 'models', 'feature-nets', dataset, 'model.onnx'));
  return candidates.find((p) => existsSync(p));
}

export class FeatureNetwork {
  private constructor(
    readonly path: string,
    readonly record: FeatureNetRecord,
    private readonly session: ort.InferenceSession,
  ) {}

  get config(): FeatureNetConfig {
    return this.record.config;
  }

  get width(): number {
    return this.record.config.widths[2];
  }

  static async load(path: string, threads?: number): Promise<FeatureNetwork> {
    const file = resolve(path);
    const size = await stat(file).then((s) => (s.isFile() ? s.size : -1), () => -2);
    if (size === -2) throw new ModelFileError(`${path}: feature network not found`);
    if (size < 0) throw new ModelFileError(`${path}: not a file`);
    if (size > MAX_FILE_BYTES) throw new ModelFileError(`${path}: ${size} bytes, more than a feature network can be (${MAX_FILE_BYTES})`);
    return FeatureNetwork.fromBytes(new Uint8Array(await readFile(file)), path, threads);
  }

  /** A network from the bytes of its file; `where` names it in errors. */
  static async fromBytes(bytes: Uint8Array, where: string, threads?: number): Promise<FeatureNetwork> {
    const path = where;
    const info = readOnnxInfo(bytes, path);
    const raw = info.metadata[METADATA_KEY];
    if (raw === undefined) throw new ModelFileError(`${path}: not a LiquidFlow feature network (no '${METADATA_KEY}' in metadata_props)`);
    let record: FeatureNetRecord;
    try {
      record = JSON.parse(raw) as FeatureNetRecord;
    } catch (e) {
      throw new ModelFileError(`${path}: metadata '${METADATA_KEY}' is not valid JSON (${(e as Error).message})`);
    }
    if (record?.format !== FEATURE_NET_FORMAT || record.version !== 1) {
      throw new ModelFileError(`${path}: metadata '${METADATA_KEY}' is format ${record?.format} version ${record?.version}, expected ${FEATURE_NET_FORMAT} version 1`);
    }
    try {
      validateFeatureNetConfig(record.config, `${path} metadata '${METADATA_KEY}'`);
    } catch (e) {
      throw new ModelFileError((e as Error).message);
    }
    if (info.inputs.join() !== 'x' || info.outputs.join() !== 'features,logits') {
      throw new ModelFileError(`${path}: inputs [${info.inputs}] and outputs [${info.outputs}], expected [x] and [features,logits]`);
    }
    const { session } = await openSession(bytes, 'cpu', threads, path);
    return new FeatureNetwork(path, record, session);
  }

  /**
   * Features [count, width] and logits [count, classes] of RGB images [count, size, size, 3] (dataset pixels, or
   * generated images as bytes), in batches of 256. Images of another size are resized to the network's input.
   */
  async run(pixels: Uint8Array, count: number, size: number, onProgress?: (done: number) => void): Promise<{ features: Float32Array; logits: Float32Array }> {
    const { in_channels: c, img_size: s, classes } = this.config;
    const per = size * size * 3;
    if (pixels.length !== count * per) throw new RangeError(`${this.path}: ${count} RGB images of ${size}x${size} are ${count * per} bytes, got ${pixels.length}`);
    const features = new Float32Array(count * this.width);
    const logits = new Float32Array(count * classes.length);
    for (let at = 0; at < count; at += 256) {
      const n = Math.min(256, count - at);
      const x = imagesToInput(this.config, pixels.subarray(at * per, (at + n) * per), n, size);
      const res = await this.session.run({ x: new ort.Tensor('float32', x, [n, c, s, s]) });
      features.set(res.features.data as Float32Array, at * this.width);
      logits.set(res.logits.data as Float32Array, at * classes.length);
      onProgress?.(at + n);
    }
    return { features, logits };
  }

  async embed(pixels: Uint8Array, count: number, size: number, onProgress?: (done: number) => void): Promise<Float32Array> {
    return (await this.run(pixels, count, size, onProgress)).features;
  }

  /** Share of images whose most likely class is their label. */
  async accuracy(pixels: Uint8Array, labels: Uint8Array, size: number): Promise<number> {
    const k = this.config.classes.length;
    const { logits } = await this.run(pixels, labels.length, size);
    let right = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      if (best === labels[i]) right++;
    }
    return right / labels.length;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * RGB bytes [n, size, size, 3] -> the network's input [n, C, S, S] in [-1, 1]: resized to S as the trainer resizes
 * data; grey networks see the channel mean (Fashion-MNIST's images are grey replicated to RGB).
 */
export function imagesToInput(cfg: FeatureNetConfig, pixels: Uint8Array, n: number, size: number): Float32Array {
  const { in_channels: c, img_size: s } = cfg;
  const x = new Float32Array(n * c * s * s);
  for (let i = 0; i < n; i++) {
    let img = pixels.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    if (size !== s) img = centerCropResize(img, size, size, s);
    for (let p = 0; p < s * s; p++) {
      if (c === 1) x[i * s * s + p] = (img[p * 3] + img[p * 3 + 1] + img[p * 3 + 2]) / (3 * 127.5) - 1;
      else for (let ch = 0; ch < c; ch++) x[(i * c + ch) * s * s + p] = img[p * 3 + Math.min(ch, 2)] / 127.5 - 1;
    }
  }
  return x;
}
