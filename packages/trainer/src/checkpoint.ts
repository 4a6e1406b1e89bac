// The checkpoint directory (documented in packages/trainer/README.md):
//   config.json   { format, version, config (every architecture field), step, seed, weights: {...} }
//   model.json    TF.js weights manifest: group 'weights.bin' (raw weights), group 'ema.bin' (EMA weights, 'ema/' names)
//   weights.bin, ema.bin   little-endian float32, in manifest order
// Loading checks everything against the config and names the file and the mismatch on any problem.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type LiquidFlowConfig, type Weights, paramSpecs, sizeOf, validateConfig } from '@liquidflow/core';
import { PREVIOUS_SUFFIX, writeDirAtomic } from './atomic-write.js';

export const CHECKPOINT_FORMAT = 'liquidflow-checkpoint';
export const CHECKPOINT_VERSION = 1;
const EMA_PREFIX = 'ema/';

export interface Checkpoint {
  config: LiquidFlowConfig;
  step: number;
  seed: number;
  weights: Weights;
  ema: Weights;
  /** Directory it was read from (may be the .prev fallback). */
  dir?: string;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
}
interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

function pack(weights: Weights, names: string[], prefix: string, shapes: Map<string, number[]>) {
  const total = names.reduce((n, k) => n + weights[k].length, 0);
  const buf = new Float32Array(total);
  const entries: ManifestEntry[] = [];
  let off = 0;
  for (const k of names) {
    buf.set(weights[k], off);
    off += weights[k].length;
    entries.push({ name: prefix + k, shape: shapes.get(k) as number[], dtype: 'float32' });
  }
  return { bytes: new Uint8Array(buf.buffer), entries };
}

export async function saveCheckpoint(dir: string, ckpt: Checkpoint, extraFiles: Record<string, Uint8Array | string> = {}): Promise<void> {
  const specs = paramSpecs(ckpt.config);
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  const names = specs.map((s) => s.name);
  for (const [label, w] of [['weights', ckpt.weights], ['ema', ckpt.ema]] as const) {
    for (const s of specs) {
      const a = w[s.name];
      if (!a || a.length !== sizeOf(s.shape)) throw new CheckpointError(`cannot save ${dir}: ${label} '${s.name}' is missing or mis-sized`);
    }
  }
  const raw = pack(ckpt.weights, names, '', shapes);
  const ema = pack(ckpt.ema, names, EMA_PREFIX, shapes);
  const manifest = {
    format: 'liquidflow-weights',
    generatedBy: '@liquidflow/trainer',
    weightsManifest: [
      { paths: ['weights.bin'], weights: raw.entries },
      { paths: ['ema.bin'], weights: ema.entries },
    ] satisfies ManifestGroup[],
  };
  const config = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: ckpt.config,
    step: ckpt.step,
    seed: ckpt.seed,
    weights: { manifest: 'model.json', raw: 'weights.bin', ema: 'ema.bin' },
  };
  await writeDirAtomic(dir, {
    'config.json': JSON.stringify(config, null, 2) + '\n',
    'model.json': JSON.stringify(manifest) + '\n',
    'weights.bin': raw.bytes,
    'ema.bin': ema.bytes,
    ...extraFiles,
  });
}

async function readFileOrThrow(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${path}: missing file` : `${path}: cannot read (${(e as Error).message})`);
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = (await readFileOrThrow(path)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads only the config of a checkpoint (cheap; used to check a resume before loading weights). */
export async function readCheckpointConfig(dir: string): Promise<{ config: LiquidFlowConfig; step: number; seed: number }> {
  const path = join(dir, 'config.json');
  const meta = (await readJson(path)) as Record<string, unknown>;
  if (meta?.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${path}: not a LiquidFlow checkpoint (format is ${JSON.stringify(meta?.format)}, expected '${CHECKPOINT_FORMAT}')`);
  }
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${path}: unsupported checkpoint version ${JSON.stringify(meta.version)} (this build reads ${CHECKPOINT_VERSION})`);
  }
  let config: LiquidFlowConfig;
  try {
    config = validateConfig(meta.config, path);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const step = meta.step;
  const seed = meta.seed;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new CheckpointError(`${path}: field 'step' must be a non-negative integer, got ${JSON.stringify(step)}`);
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new CheckpointError(`${path}: field 'seed' must be an integer, got ${JSON.stringify(seed)}`);
  return { config, step, seed };
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  if (!(await isDir(dir))) {
    if (await isDir(dir + PREVIOUS_SUFFIX)) {
      // A save was interrupted between its two renames: the previous checkpoint is whole.
      process.stderr.write(`note: ${dir} is missing; loading the previous checkpoint ${dir}${PREVIOUS_SUFFIX}\n`);
      dir = dir + PREVIOUS_SUFFIX;
    } else {
      throw new CheckpointError(`${dir}: checkpoint directory not found`);
    }
  }
  const { config, step, seed } = await readCheckpointConfig(dir);
  const manifestPath = join(dir, 'model.json');
  const manifest = (await readJson(manifestPath)) as { weightsManifest?: ManifestGroup[] };
  if (!Array.isArray(manifest?.weightsManifest)) throw new CheckpointError(`${manifestPath}: no 'weightsManifest' array`);

  const found = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const group of manifest.weightsManifest) {
    if (!Array.isArray(group.paths) || group.paths.length !== 1 || !Array.isArray(group.weights)) {
      throw new CheckpointError(`${manifestPath}: each weights group needs one path and a weights list`);
    }
    const binPath = join(dir, group.paths[0]);
    const bytes = await readFileOrThrow(binPath);
    let need = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32') throw new CheckpointError(`${manifestPath}: weight '${w.name}' has dtype ${w.dtype}, expected float32`);
      need += sizeOf(w.shape) * 4;
    }
    if (bytes.length !== need) {
      throw new CheckpointError(`${binPath}: ${bytes.length < need ? 'truncated' : 'too long'}: ${bytes.length} bytes, ${manifestPath} describes ${need}`);
    }
    // Copy into an aligned buffer; Buffer slices may not be 4-byte aligned.
    const all = new Float32Array(new Uint8Array(bytes).buffer);
    let off = 0;
    for (const w of group.weights) {
      const n = sizeOf(w.shape);
      const arr = all.subarray(off, off + n);
      off += n;
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(arr[i])) throw new CheckpointError(`${binPath}: weight '${w.name}' contains ${Number.isNaN(arr[i]) ? 'NaN' : 'Inf'}`);
      }
      found.set(w.name, { shape: w.shape, data: arr });
    }
  }

  const weights: Weights = {};
  const ema: Weights = {};
  const specs = paramSpecs(config);
  const expected = new Set<string>();
  for (const s of specs) {
    for (const [prefix, target] of [['', weights], [EMA_PREFIX, ema]] as const) {
      const key = prefix + s.name;
      expected.add(key);
      const entry = found.get(key);
      if (!entry) throw new CheckpointError(`${manifestPath}: weight '${key}' is missing (config.json expects shape [${s.shape}])`);
      if (entry.shape.join() !== s.shape.join()) {
        throw new CheckpointError(`${manifestPath}: weight '${key}' has shape [${entry.shape}], config.json expects [${s.shape}]`);
      }
      target[s.name] = entry.data;
    }
  }
  for (const key of found.keys()) {
    if (!expected.has(key)) throw new CheckpointError(`${manifestPath}: weight '${key}' is not a parameter of the model in config.json`);
  }
  return { config, step, seed, weights, ema, dir };
}
