// The checkpoint directory (documented in packages/checkpoint/README.md). config.json is the commit point: the weight
// files of a save carry its step in their names and are written first; config.json, which names them, is replaced
// last (atomically), and only then are the previous step's files deleted. A run killed at any moment leaves a
// config.json that names complete files.
//   config.json                { format, version, config, step, seed, files: { manifest, sha256 }, optimizer?, train? }
//                              config is the model's, with its arch (version 3; older ones are LiquidFlow's);
//                              files.sha256 maps each .bin file to its SHA-256 (hex); version 1 had none
//   model-<step>.json          TF.js weights manifest: groups weights-<step>.bin (raw), ema-<step>.bin ('ema/' names),
//                              and optimizer-<step>.bin ('adam_m/', 'adam_v/' names) when the optimizer state is saved
//   *.bin                      little-endian float32, in manifest order
// Loading checks everything against the config and names the file and the mismatch on any problem. A checkpoint may
// come from someone else: every file it names must be a regular file inside its folder, of exactly the size the
// manifest implies, before a byte of it is read.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { type ModelConfig, type Weights, countParams, paramSpecs, sizeOf, validateConfig } from '@liquidflow/core';
import { fsyncDir, writeFileAtomic } from './atomic-write.js';

export const CHECKPOINT_FORMAT = 'liquidflow-checkpoint';
/**
 * 3: the config carries `arch` (the model family). 2: files.sha256 holds a checksum per weight file. 1: neither.
 * All three load; a config without `arch` is LiquidFlow's, the only family there was.
 */
export const CHECKPOINT_VERSION = 3;
const READABLE_VERSIONS: readonly unknown[] = [1, 2, 3];
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** config.json and the manifest are small (a 512 px model's manifest is ~100 KB); a bigger one is not ours. */
const JSON_LIMIT = 64 * 2 ** 20;
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
  config: ModelConfig;
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
  const manifest = { format: 'liquidflow-weights', generatedBy: '@liquidflow/checkpoint', weightsManifest: groups };
  const config = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: ckpt.config,
    step: ckpt.step,
    seed: ckpt.seed,
    files: { manifest: manifestName, sha256: Object.fromEntries(Object.entries(files).map(([f, b]) => [f, sha256(b)])) },
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

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A file of the checkpoint, checked but not yet read. */
interface CheckedFile {
  path: string;
  real: string;
  size: number;
  dev: number;
  ino: number;
}

/**
 * Resolves `rel` (as a manifest or config.json names it) inside `dir` and checks it without reading it: a relative
 * path with no '..', that after symbolic links is still inside dir, is a regular file (not a FIFO or /dev/zero, which
 * would block or never end) and, when `size` is given, has exactly that many bytes. `namedBy` says who named it.
 */
async function checkInside(dir: string, rel: string, namedBy: string, size?: { bytes: number; describedBy: string }, max = Infinity): Promise<CheckedFile> {
  if (rel === '' || isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || rel.includes('\0')) {
    throw new CheckpointError(`${namedBy}: path ${JSON.stringify(rel)} must be relative to the checkpoint folder ${dir}, without '..'`);
  }
  const path = join(dir, rel);
  let real: string;
  let realDir: string;
  try {
    realDir = await realpath(dir);
    real = await realpath(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${path}: missing file` : `${path}: cannot read (${(e as Error).message})`);
  }
  const up = relative(realDir, real);
  if (up === '' || up.split(/[\\/]/)[0] === '..' || isAbsolute(up)) {
    throw new CheckpointError(`${path}: resolves to ${real}, outside the checkpoint folder ${realDir} (a symbolic link?); refusing to read it`);
  }
  const st = await stat(real);
  if (!st.isFile()) throw new CheckpointError(`${path}: not a regular file`);
  if (size && st.size !== size.bytes) {
    throw new CheckpointError(`${path}: ${st.size < size.bytes ? 'truncated' : 'too long'}: ${st.size} bytes, ${size.describedBy} describes ${size.bytes}`);
  }
  if (st.size > max) throw new CheckpointError(`${path}: ${st.size} bytes, more than the ${max} such a file may have`);
  return { path, real, size: st.size, dev: st.dev, ino: st.ino };
}

/** Reads a file checkInside passed, refusing it if it was swapped or resized in between. */
async function readChecked(f: CheckedFile): Promise<Buffer> {
  // O_NONBLOCK: a FIFO swapped in after the check must not block the open.
  const fh = await open(f.real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: Error) => {
    throw new CheckpointError(`${f.path}: cannot read (${e.message})`);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.dev !== f.dev || st.ino !== f.ino || st.size !== f.size) throw new CheckpointError(`${f.path}: changed while being loaded`);
    const buf = Buffer.alloc(f.size);
    let off = 0;
    while (off < f.size) {
      const { bytesRead } = await fh.read(buf, off, f.size - off, off);
      if (bytesRead === 0) throw new CheckpointError(`${f.path}: changed while being loaded (ended at byte ${off} of ${f.size})`);
      off += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

async function readJson(dir: string, rel: string): Promise<unknown> {
  const f = await checkInside(dir, rel, dir, undefined, JSON_LIMIT);
  const text = (await readChecked(f)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${f.path}: invalid JSON (${(e as Error).message})`);
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** A manifest group whose every field has been checked; `bytes` is what its file must hold. */
interface CheckedGroup {
  file: string;
  weights: { name: string; shape: number[]; count: number }[];
  bytes: number;
}

/** Checks the manifest's structure, so a malformed entry is a CheckpointError naming it and never a TypeError later. */
function checkManifest(raw: unknown, manifestPath: string): CheckedGroup[] {
  const groups = isObject(raw) ? raw.weightsManifest : undefined;
  if (!Array.isArray(groups)) throw new CheckpointError(`${manifestPath}: no 'weightsManifest' array`);
  const names = new Set<string>();
  return groups.map((g: unknown, i) => {
    const at = `${manifestPath}: weightsManifest[${i}]`;
    if (!isObject(g)) throw new CheckpointError(`${at} must be an object with 'paths' and 'weights', got ${show(g)}`);
    if (!Array.isArray(g.paths) || g.paths.length !== 1 || typeof g.paths[0] !== 'string') {
      throw new CheckpointError(`${at}.paths must be a list of one file name, got ${show(g.paths)}`);
    }
    if (!Array.isArray(g.weights)) throw new CheckpointError(`${at}.weights must be a list, got ${show(g.weights)}`);
    let bytes = 0;
    const weights = g.weights.map((w: unknown, j) => {
      const wat = `${at}.weights[${j}]`;
      if (!isObject(w)) throw new CheckpointError(`${wat} must be an object with 'name', 'shape' and 'dtype', got ${show(w)}`);
      if (typeof w.name !== 'string' || w.name === '') throw new CheckpointError(`${wat}.name must be a non-empty string, got ${show(w.name)}`);
      const label = `${wat} (weight '${w.name}')`;
      if (names.has(w.name)) throw new CheckpointError(`${label}: the name appears twice in the manifest`);
      names.add(w.name);
      if (w.dtype !== 'float32') throw new CheckpointError(`${label}: weight '${w.name}' has dtype ${show(w.dtype)}, expected float32`);
      const shape = w.shape;
      if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
        throw new CheckpointError(`${label}: shape must be a list of non-negative integers, got ${show(shape)}`);
      }
      const count = shape.reduce((a: number, b: number) => a * b, 1);
      if (!Number.isSafeInteger(count * 4)) throw new CheckpointError(`${label}: shape [${shape}] is too large (${count} elements)`);
      bytes += count * 4;
      return { name: w.name, shape: shape as number[], count };
    });
    return { file: g.paths[0], weights, bytes };
  });
}

/** What config.json says, checked. */
export interface CheckpointMeta {
  config: ModelConfig;
  step: number;
  seed: number;
  manifest: string;
  optimizerStep?: number;
  train?: Record<string, unknown>;
  /** SHA-256 (hex) per weight file; undefined for a version-1 checkpoint, which has none. */
  checksums?: Record<string, string>;
}

/** Reads only the config of a checkpoint (cheap; used to check a resume before loading weights). */
export async function readCheckpointConfig(dir: string): Promise<CheckpointMeta> {
  return parseCheckpointConfig(await readJson(dir, 'config.json'), join(dir, 'config.json'));
}

/** Checks the parsed contents of a checkpoint's config.json; `path` names it in errors. */
export function parseCheckpointConfig(raw: unknown, path: string): CheckpointMeta {
  const meta = (isObject(raw) ? raw : {}) as Record<string, unknown>;
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${path}: not a LiquidFlow checkpoint (format is ${JSON.stringify(meta.format)}, expected '${CHECKPOINT_FORMAT}')`);
  }
  if (!READABLE_VERSIONS.includes(meta.version)) {
    const newer = typeof meta.version === 'number' && meta.version > CHECKPOINT_VERSION ? ', newer than this build; update LiquidFlow to read it' : '';
    throw new CheckpointError(`${path}: unsupported checkpoint version ${JSON.stringify(meta.version)} (this build reads ${READABLE_VERSIONS.join(', ')})${newer}`);
  }
  let config: ModelConfig;
  try {
    config = validateConfig(meta.config, path);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const step = meta.step;
  const seed = meta.seed;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new CheckpointError(`${path}: field 'step' must be a non-negative integer, got ${JSON.stringify(step)}`);
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new CheckpointError(`${path}: field 'seed' must be an integer, got ${JSON.stringify(seed)}`);
  const files = isObject(meta.files) ? meta.files : {};
  const manifest = files.manifest;
  if (typeof manifest !== 'string' || !STAMPED.test(manifest)) throw new CheckpointError(`${path}: field 'files.manifest' must name a model-<step>.json file, got ${JSON.stringify(manifest)}`);
  let checksums: Record<string, string> | undefined;
  if (meta.version !== 1) {
    const sums = files.sha256;
    if (!isObject(sums)) throw new CheckpointError(`${path}: field 'files.sha256' must map each weight file to its SHA-256, got ${show(sums)}`);
    for (const [f, h] of Object.entries(sums)) {
      if (typeof h !== 'string' || !SHA256_HEX.test(h)) throw new CheckpointError(`${path}: field 'files.sha256' entry '${f}' must be 64 lowercase hex digits, got ${show(h)}`);
    }
    checksums = sums as Record<string, string>;
  }
  let optimizerStep: number | undefined;
  if (meta.optimizer !== undefined) {
    const o = meta.optimizer;
    optimizerStep = isObject(o) ? (o.step as number) : undefined;
    if (typeof optimizerStep !== 'number' || !Number.isInteger(optimizerStep) || optimizerStep < 0) {
      throw new CheckpointError(`${path}: field 'optimizer.step' must be a non-negative integer, got ${show(isObject(o) ? o.step : o)}`);
    }
  }
  if (meta.train !== undefined && !isObject(meta.train)) throw new CheckpointError(`${path}: field 'train' must be an object, got ${show(meta.train)}`);
  return { config, step, seed, manifest, optimizerStep, train: meta.train as Record<string, unknown> | undefined, checksums };
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  if (!(await isDir(dir))) throw new CheckpointError(`${dir}: checkpoint directory not found`);
  const { config, step, seed, manifest: manifestName, optimizerStep, train, checksums } = await readCheckpointConfig(dir);
  const configPath = join(dir, 'config.json');
  const manifestPath = join(dir, manifestName);
  const groups = checkManifest(await readJson(dir, manifestName), manifestPath);
  // Bound what the manifest may make us read (a sparse file can claim any size) by what the config can need: raw, EMA
  // and two optimizer moments, with a 4x margin so a config that merely disagrees gets the per-weight message below.
  const limit = 4 * (4 * 4 * countParams(config));
  const described = groups.reduce((n, g) => n + g.bytes, 0);
  if (described > limit) {
    throw new CheckpointError(`${manifestPath}: describes ${described} bytes of weights, more than the ${limit} a checkpoint of the model in config.json holds`);
  }
  // Every file is checked (inside the folder, regular, exact size) before any is read.
  const checked: CheckedFile[] = [];
  for (const g of groups) checked.push(await checkInside(dir, g.file, manifestPath, { bytes: g.bytes, describedBy: manifestPath }));
  if (checksums) {
    for (const g of groups) if (checksums[g.file] === undefined) throw new CheckpointError(`${configPath}: field 'files.sha256' has no checksum for '${g.file}', which ${manifestPath} names`);
  }

  const found = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [gi, group] of groups.entries()) {
    const binPath = checked[gi].path;
    const bytes = await readChecked(checked[gi]);
    if (checksums) {
      const actual = sha256(bytes);
      if (actual !== checksums[group.file]) {
        throw new CheckpointError(`${binPath}: SHA-256 is ${actual}, ${configPath} records ${checksums[group.file]}: the file changed or was corrupted after it was saved`);
      }
    }
    // Copy into an aligned buffer; Buffer slices may not be 4-byte aligned.
    const all = new Float32Array(new Uint8Array(bytes).buffer);
    let off = 0;
    for (const w of group.weights) {
      const n = w.count;
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
