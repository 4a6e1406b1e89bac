// liquidflow-export's work: checkpoint directory -> .onnx file (written atomically), with its config as metadata.
import {
  type ModelConfig, type UpsampleGuidance, type Weights, ConfigError, familyOf, modelMetadata, validateConfig, weightsForImageSize,
} from '@liquidflow/core';
import { loadCheckpoint, writeFileAtomic, type Checkpoint } from '@liquidflow/checkpoint';
import { type BuiltGraph, buildGraph } from './build-graph.js';
import { encodeModel } from './onnx-writer.js';
import { type GuidanceOptions, buildGuidedGraph } from './upsample-guidance.js';

export type WeightSet = 'ema' | 'raw';

/** What the graph is built from: the checkpoint at its trained size, or resampled to another image size. */
export interface ExportTarget {
  /** The checkpoint's config with img_size set to the size the exported model generates at. */
  config: ModelConfig;
  /** The chosen weight set, resized by the family when the size changed (LiquidFlow: the position table). */
  weights: Weights;
  trainedImgSize: number;
}

export interface ExportResult {
  path: string;
  nodes: number;
  params: number;
  bytes: number;
  weights: WeightSet;
  checkpoint: Checkpoint;
  target: ExportTarget;
}

/**
 * DiM-style training-free upsampling: the same network at another image size. The family says which sizes work and
 * resizes the weights that depend on the size (LiquidFlow: only the position table).
 */
export function exportTarget(ckpt: Checkpoint, weights: WeightSet, imgSize = ckpt.config.img_size): ExportTarget {
  const trained = ckpt.config;
  const chosen = weights === 'ema' ? ckpt.ema : ckpt.weights;
  const problem = familyOf(trained).imageSizeProblem(trained, imgSize);
  if (problem) throw new ConfigError(problem);
  if (imgSize === trained.img_size) return { config: trained, weights: chosen, trainedImgSize: trained.img_size };
  const config = validateConfig({ ...trained, img_size: imgSize }, `checkpoint config at img_size ${imgSize}`);
  return { config, weights: weightsForImageSize(chosen, trained, config), trainedImgSize: trained.img_size };
}

/** metadata_props (onnx-contract.ts); `config` is the one at the size the model generates at. */
export function exportMetadata(ckpt: Checkpoint, weights: WeightSet, config: ModelConfig = ckpt.config, upsampleGuidance?: UpsampleGuidance): Record<string, string> {
  return modelMetadata({ config, trainedImgSize: ckpt.config.img_size, weights, step: ckpt.step, upsampleGuidance });
}

/**
 * The encoded model; `imgSize` (default: the trained size) is the size it generates at. With `guidance`, the graph
 * also runs the trained-size model on the pooled input and corrects the velocity's low frequencies (upsample-guidance.ts).
 */
export function exportBytes(ckpt: Checkpoint, weights: WeightSet = 'ema', imgSize?: number, guidance?: GuidanceOptions) {
  const target = exportTarget(ckpt, weights, imgSize);
  let built: BuiltGraph & { guidance?: UpsampleGuidance };
  if (guidance) {
    const trained = exportTarget(ckpt, weights);
    built = buildGuidedGraph({ config: trained.config, weights: trained.weights }, { config: target.config, weights: target.weights }, guidance);
  } else built = buildGraph(target.config, target.weights);
  const bytes = encodeModel(built.graph, exportMetadata(ckpt, weights, target.config, built.guidance));
  return { ...built, bytes, target };
}

/** A checkpoint directory's model, encoded, not yet written. */
export async function exportCheckpointBytes(ckptDir: string, weights: WeightSet = 'ema', imgSize?: number, guidance?: GuidanceOptions) {
  const checkpoint = await loadCheckpoint(ckptDir);
  return { ...exportBytes(checkpoint, weights, imgSize, guidance), checkpoint };
}

export async function exportCheckpoint(ckptDir: string, outPath: string, weights: WeightSet = 'ema', imgSize?: number, guidance?: GuidanceOptions): Promise<ExportResult> {
  const { bytes, nodes, params, target, checkpoint } = await exportCheckpointBytes(ckptDir, weights, imgSize, guidance);
  await writeFileAtomic(outPath, bytes);
  return { path: outPath, nodes, params, bytes: bytes.length, weights, checkpoint, target };
}
