// The checkpoint directory (documented in packages/trainer/README.md). config.json is the commit point: the weight
// files of a save carry its step in their names and are written first; config.json, which names them, is replaced
// last (atomically), and only then are the previous step's files deleted. A run killed at any moment leaves a
// config.json that names complete files.
//   config.json                { format, version, config, step, seed, files: { manifest }, train? }
//   model-<step>.json          TF.js weights manifest: groups weights-<step>.bin (raw), ema-<step>.bin ('ema/' names),
//                              and optimizer-<step>.bin ('adam_m/', 'adam_v/' names) when the optimizer state is saved
//   *.bin                      little-endian float32, in manifest order
// Loading checks everything against the config and names the file and the mismatch on any problem.
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type LiquidFlowConfig, type Weights, paramSpecs, sizeOf, validateConfig } from '@liquidflow/core';
import { fsyncDir, writeFileAtomic } from './atomic-write.js';

export const CHECKPOINT_FORMAT = 'liquidflow-checkpoint';
export const CHECKPOINT_VERSION = 1;
const EMA_PREFIX = 'ema/';
const ADAM_M = 'adam_m/';
const ADAM_V = 'adam_v/';
const STAMPED = /^(model|weights|ema|optimizer)-\d{8}\.(json|bin)$/;

export interface OptimizerState {
  /** AdamW step count (bias correction). */
  step: number;
  m: Weights;
  v: Weights;
}

export interface Checkpoint {
  config: LiquidFlowConfig;
  step: number;
  seed: number;
  weights: Weights;
  ema: Weights;
  optimizer?: OptimizerState;
  /** Training-run state a resume needs (flags, schedule); opaque to the checkpoint code. */
  train?: Record<string, unknown>;
  /** Directory it was read from. */
  dir?: string;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export class NonFiniteWeightsError extends CheckpointError {
  override name = 'NonFiniteWeightsError';
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

export async function saveCheckpoint(dir: string, ckpt: Checkpoint): Promise<void> {
  const specs = paramSpecs(ckpt.config);
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  const names = specs.map((s) => s.name);
  const sets: [string, Weights, string][] = [['weights', ckpt.weights, ''], ['ema', ckpt.ema, EMA_PREFIX]];
  if (ckpt.optimizer) sets.push(['adam_m', ckpt.optimizer.m, ADAM_M], ['adam_v', ckpt.optimizer.v, ADAM_V]);
  for (const [label, w] of sets) {
    for (const s of specs) {
      const a = w[s.name];
      if (!a || a.length !== sizeOf(s.shape)) throw new CheckpointError(`cannot save ${dir}: ${label} '${s.name}' is missing or mis-sized`);
      // A checkpoint that would not load must never replace one that does.
      for (let i = 0; i < a.length; i++) {
        if (!Number.isFinite(a[i])) throw new NonFiniteWeightsError(`cannot save ${dir} at step ${ckpt.step}: ${label} '${s.name}' contains ${a[i]}`);
      }
    }
  }
  const tag = String(ckpt.step).padStart(8, '0');
  const files: Record<string, Uint8Array> = {};
  const groups: ManifestGroup[] = [];
  const addGroup = (file: string, parts: ReturnType<typeof pack>[]) => {
    const total = parts.reduce((n, p) => n + p.bytes.length, 0);
    const bytes = new Uint8Array(total);
    let off = 0;
    for (const p of parts) (bytes.set(p.bytes, off), (off += p.bytes.length));
    files[file] = bytes;
    groups.push({ paths: [file], weights: parts.flatMap((p) => p.entries) });
  };
  addGroup(`weights-${tag}.bin`, [pack(ckpt.weights, names, '', shapes)]);
  addGroup(`ema-${tag}.bin`, [pack(ckpt.ema, names, EMA_PREFIX, shapes)]);
  if (ckpt.optimizer) addGroup(`optimizer-${tag}.bin`, [pack(ckpt.optimizer.m, names, ADAM_M, shapes), pack(ckpt.optimizer.v, names, ADAM_V, shapes)]);
  const manifestName = `model-${tag}.json`;
  const manifest = { format: 'liquidflow-weights', generatedBy: '@liquidflow/trainer', weightsManifest: groups };
  const config = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: ckpt.config,
    step: ckpt.step,
    seed: ckpt.seed,
    files: { manifest: manifestName },
    ...(ckpt.optimizer ? { optimizer: { step: ckpt.optimizer.step } } : {}),
    ...(ckpt.train ? { train: ckpt.train } : {}),
  };
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFileAtomic(join(dir, name), bytes);
  await writeFileAtomic(join(dir, manifestName), JSON.stringify(manifest) + '\n');
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n'); // the commit
  await fsyncDir(dir);
  const keep = new Set([...Object.keys(files), manifestName]);
  for (const f of await readdir(dir)) {
    if ((STAMPED.test(f) && !keep.has(f)) || /^\..*\.tmp-\d+-\d+$/.test(f)) await rm(join(dir, f), { force: true });
  }
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
export async function readCheckpointConfig(dir: string): Promise<{ config: LiquidFlowConfig; step: number; seed: number; manifest: string; optimizerStep?: number; train?: Record<string, unknown> }> {
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
  const manifest = (meta.files as { manifest?: unknown } | undefined)?.manifest;
  if (typeof manifest !== 'string' || !STAMPED.test(manifest)) throw new CheckpointError(`${path}: field 'files.manifest' must name a model-<step>.json file, got ${JSON.stringify(manifest)}`);
  const optimizerStep = (meta.optimizer as { step?: number } | undefined)?.step;
  return { config, step, seed, manifest, optimizerStep, train: meta.train as Record<string, unknown> | undefined };
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  if (!(await isDir(dir))) throw new CheckpointError(`${dir}: checkpoint directory not found`);
  const { config, step, seed, manifest: manifestName, optimizerStep, train } = await readCheckpointConfig(dir);
  const manifestPath = join(dir, manifestName);
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
  let optimizer: OptimizerState | undefined;
  if (optimizerStep !== undefined) {
    optimizer = { step: optimizerStep, m: {}, v: {} };
    for (const s of specs) {
      for (const [prefix, target] of [[ADAM_M, optimizer.m], [ADAM_V, optimizer.v]] as const) {
        const key = prefix + s.name;
        expected.add(key);
        const entry = found.get(key);
        if (!entry || entry.shape.join() !== s.shape.join()) throw new CheckpointError(`${manifestPath}: optimizer state '${key}' is missing or has shape [${entry?.shape}], expected [${s.shape}]`);
        target[s.name] = entry.data;
      }
    }
  }
  for (const key of found.keys()) {
    if (!expected.has(key)) throw new CheckpointError(`${manifestPath}: weight '${key}' is not a parameter of the model in config.json`);
  }
  return { config, step, seed, weights, ema, optimizer, train, dir };
}
