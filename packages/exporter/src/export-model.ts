// liquidflow-export's work: checkpoint directory -> .onnx file (written atomically), with its config as metadata.
import { rename, writeFile } from 'node:fs/promises';
import { loadCheckpoint, type Checkpoint } from '@liquidflow/trainer';
import { buildGraph } from './build-graph.js';
import { encodeModel } from './onnx-writer.js';

export type WeightSet = 'ema' | 'raw';

export interface ExportResult {
  path: string;
  nodes: number;
  params: number;
  bytes: number;
  weights: WeightSet;
  checkpoint: Checkpoint;
}

/** metadata_props keys; runtimes read these to know the image size and the time convention. */
export function exportMetadata(ckpt: Checkpoint, weights: WeightSet): Record<string, string> {
  return {
    'liquidflow.format': 'liquidflow-onnx/1',
    'liquidflow.config': JSON.stringify(ckpt.config),
    'liquidflow.weights': weights,
    'liquidflow.step': String(ckpt.step),
    'liquidflow.time_convention': 'x_t = (1 - t) * x0 + t * noise; v = noise - x0; sample from t=1 to t=0',
  };
}

export function exportBytes(ckpt: Checkpoint, weights: WeightSet = 'ema') {
  const built = buildGraph(ckpt.config, weights === 'ema' ? ckpt.ema : ckpt.weights);
  const bytes = encodeModel(built.graph, exportMetadata(ckpt, weights));
  return { ...built, bytes };
}

export async function exportCheckpoint(ckptDir: string, outPath: string, weights: WeightSet = 'ema'): Promise<ExportResult> {
  const checkpoint = await loadCheckpoint(ckptDir);
  const { bytes, nodes, params } = exportBytes(checkpoint, weights);
  const tmp = `${outPath}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, outPath);
  return { path: outPath, nodes, params, bytes: bytes.length, weights, checkpoint };
}
