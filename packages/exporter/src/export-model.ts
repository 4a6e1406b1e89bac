// liquidflow-export's work: checkpoint directory -> .onnx file (written atomically), with its config as metadata.
import { type LiquidFlowConfig, type Weights, ConfigError, validateConfig } from '@liquidflow/core';
import { loadCheckpoint, weightsForImageSize, writeFileAtomic, type Checkpoint } from '@liquidflow/trainer';
import { buildGraph } from './build-graph.js';
import { encodeModel } from '@liquidflow/trainer';

export type WeightSet = 'ema' | 'raw';

/** What the graph is built from: the checkpoint at its trained size, or resampled to another image size. */
export interface ExportTarget {
  /** The checkpoint's config with img_size set to the size the exported model generates at. */
  config: LiquidFlowConfig;
  /** The chosen weight set; the position table resampled to config's token grid when the size changed. */
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
 * DiM-style training-free upsampling: the same network at another image size. Only the position table depends on the
 * token count (zigzag orders, scan chunks and the convs' maps all follow from img_size), so it alone is resampled.
 */
export function exportTarget(ckpt: Checkpoint, weights: WeightSet, imgSize = ckpt.config.img_size): ExportTarget {
  const trained = ckpt.config;
  const chosen = weights === 'ema' ? ckpt.ema : ckpt.weights;
  const p = trained.patch_size;
  if (!Number.isInteger(imgSize) || imgSize < p || imgSize % p !== 0) {
    const down = Math.floor(imgSize / p) * p;
    const hint = !Number.isFinite(imgSize) ? '' : down < p ? ` (the smallest is ${p})` : ` (nearest: ${down} or ${down + p})`;
    throw new ConfigError(`img_size ${imgSize} is not a positive multiple of the checkpoint's patch_size ${p}${hint}`);
  }
  if (imgSize === trained.img_size) return { config: trained, weights: chosen, trainedImgSize: trained.img_size };
  const config = validateConfig({ ...trained, img_size: imgSize }, `checkpoint config at img_size ${imgSize}`);
  return { config, weights: weightsForImageSize(chosen, trained, config), trainedImgSize: trained.img_size };
}

/** metadata_props keys; runtimes read these to know the image size and the time convention. */
export function exportMetadata(ckpt: Checkpoint, weights: WeightSet, config: LiquidFlowConfig = ckpt.config): Record<string, string> {
  return {
    'liquidflow.format': 'liquidflow-onnx/1',
    // The size the model generates at; trained_img_size differs when the position table was resampled.
    'liquidflow.config': JSON.stringify(config),
    'liquidflow.trained_img_size': String(ckpt.config.img_size),
    'liquidflow.weights': weights,
    'liquidflow.step': String(ckpt.step),
    'liquidflow.time_convention': 'x_t = (1 - t) * x0 + t * noise; v = noise - x0; sample from t=1 to t=0',
  };
}

/** The encoded model; `imgSize` (default: the trained size) is the size it generates at. */
export function exportBytes(ckpt: Checkpoint, weights: WeightSet = 'ema', imgSize?: number) {
  const target = exportTarget(ckpt, weights, imgSize);
  const built = buildGraph(target.config, target.weights);
  const bytes = encodeModel(built.graph, exportMetadata(ckpt, weights, target.config));
  return { ...built, bytes, target };
}

/** A checkpoint directory's model, encoded, not yet written. */
export async function exportCheckpointBytes(ckptDir: string, weights: WeightSet = 'ema', imgSize?: number) {
  const checkpoint = await loadCheckpoint(ckptDir);
  return { ...exportBytes(checkpoint, weights, imgSize), checkpoint };
}

export async function exportCheckpoint(ckptDir: string, outPath: string, weights: WeightSet = 'ema', imgSize?: number): Promise<ExportResult> {
  const { bytes, nodes, params, target, checkpoint } = await exportCheckpointBytes(ckptDir, weights, imgSize);
  await writeFileAtomic(outPath, bytes);
  return { path: outPath, nodes, params, bytes: bytes.length, weights, checkpoint, target };
}
