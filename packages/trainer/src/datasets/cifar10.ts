// CIFAR-10, binary version: cifar-10-batches-bin/data_batch_1.bin … data_batch_5.bin, 10000 records each of
// 1 label byte + 3072 pixel bytes (1024 R, then 1024 G, then 1024 B, each 32x32 row-major): 50000 training images.
// From --data_dir (that folder, its parent, or the .tar.gz), else from the cache, else downloaded into the cache
// (checked against the published size and MD5, then extracted by our tar reader into a temp folder and renamed).
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { centerCropResize, checkDecodedSize, DatasetError, type ImageDataset, type LoadProgress } from './dataset.js';
import type { WarningSink } from './folder.js';
import { readTarFile } from './tar.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** The published archive: 170,052,171 bytes, MD5 from the dataset's page. */
export const CIFAR10_ARCHIVE = { name: 'cifar-10-binary.tar.gz', size: 170_052_171, md5: 'c32a1d4ab5d03f1284b67883e8d87530' };
export const CIFAR10_FOLDER = 'cifar-10-batches-bin';
export const CIFAR10_BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const SIDE = 32;
const PLANE = SIDE * SIDE;
export const CIFAR10_RECORD_BYTES = 1 + 3 * PLANE;

/** The cache root: $LIQUIDFLOW_CACHE, else $XDG_CACHE_HOME/liquidflow, else ~/.cache/liquidflow. */
export function liquidflowCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.LIQUIDFLOW_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'liquidflow'));
}

export interface CifarBatch {
  count: number;
  labels: Uint8Array;
  /** The records as stored: [count, 3073], label byte first. */
  records: Uint8Array;
}

/** Checks and splits one batch file's bytes; `where` names the file in errors. */
export function parseCifarBatch(bytes: Uint8Array, where: string): CifarBatch {
  if (bytes.length === 0) throw new DatasetError(`${where}: empty file`);
  const count = Math.floor(bytes.length / CIFAR10_RECORD_BYTES);
  const extra = bytes.length - count * CIFAR10_RECORD_BYTES;
  if (extra !== 0) {
    throw new DatasetError(`${where}: truncated or not a CIFAR-10 batch: ${bytes.length} bytes is ${count} whole ${CIFAR10_RECORD_BYTES}-byte records and ${extra} bytes more (a full batch is 10000 records, ${10000 * CIFAR10_RECORD_BYTES} bytes)`);
  }
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const l = bytes[i * CIFAR10_RECORD_BYTES];
    if (l > 9) {
      throw new DatasetError(`${where}: record ${i} has label ${l}, not 0-9: not a CIFAR-10 binary batch (CIFAR-100 records have 2 label bytes)`);
    }
    labels[i] = l;
  }
  return { count, labels, records: bytes };
}

/** One 3072-byte planar record (after its label byte) to [32, 32, 3] RGB. */
export function cifarRecordToRgb(planar: Uint8Array, out = new Uint8Array(3 * PLANE)): Uint8Array {
  for (let p = 0; p < PLANE; p++) {
    out[p * 3] = planar[p];
    out[p * 3 + 1] = planar[PLANE + p];
    out[p * 3 + 2] = planar[2 * PLANE + p];
  }
  return out;
}

/** The folder holding data_batch_1.bin: dir itself or dir/cifar-10-batches-bin; undefined if neither. */
export function findCifarBatchDir(dir: string): string | undefined {
  for (const d of [dir, join(dir, CIFAR10_FOLDER)]) if (existsSync(join(d, CIFAR10_BATCHES[0]))) return resolve(d);
  return undefined;
}

export interface Cifar10Dataset extends ImageDataset {
  /** The class of each image, 0-9 (CIFAR10_CLASSES). */
  labels: Uint8Array;
  warnings: string[];
}

/** Reads the data_batch_*.bin of a folder at size. Missing batches (of the 5) are a warning, none at all an error. */
export async function loadCifarBatchDir(dir: string, size: number, onProgress?: LoadProgress, warn: WarningSink = (m) => console.warn(m)): Promise<Cifar10Dataset> {
  const warnings: string[] = [];
  const present = CIFAR10_BATCHES.filter((f) => existsSync(join(dir, f)));
  if (present.length === 0) throw new DatasetError(`${join(dir, CIFAR10_BATCHES[0])}: missing (expected ${CIFAR10_BATCHES.join(', ')})`);
  if (present.length < CIFAR10_BATCHES.length) {
    const m = `${dir}: only ${present.join(', ')} of the ${CIFAR10_BATCHES.length} training batches; missing ${CIFAR10_BATCHES.filter((f) => !present.includes(f)).join(', ')}`;
    warnings.push(m);
    warn(m);
  }
  // Sizes first, to allocate once; each file is checked when read.
  let total = 0;
  for (const f of present) total += Math.floor((await stat(join(dir, f))).size / CIFAR10_RECORD_BYTES);
  const bytesPer = size * size * 3;
  checkDecodedSize(total, size, dir);
  const pixels = new Uint8Array(total * bytesPer);
  const labels = new Uint8Array(total);
  const rgb = new Uint8Array(3 * PLANE);
  let n = 0;
  let lastReport = 0;
  onProgress?.(0, total, 'images');
  for (const f of present) {
    const file = join(dir, f);
    const batch = parseCifarBatch(new Uint8Array(await readFile(file)), file);
    for (let i = 0; i < batch.count; i++) {
      const start = i * CIFAR10_RECORD_BYTES + 1;
      cifarRecordToRgb(batch.records.subarray(start, start + 3 * PLANE), rgb);
      pixels.set(size === SIDE ? rgb : centerCropResize(rgb, SIDE, SIDE, size), n * bytesPer);
      labels[n] = batch.labels[i];
      n++;
      const now = Date.now();
      if (onProgress && (n === total || now - lastReport >= 200)) {
        lastReport = now;
        onProgress(n, total, 'images');
      }
    }
  }
  return { name: 'cifar10', source: dir, size, count: n, pixels, labels, warnings };
}

/**
 * Extracts the cifar-10-batches-bin/ files of a (gzipped) tar archive into cacheRoot/cifar-10-batches-bin, atomically:
 * written into a temp folder beside it, checked, then renamed. Returns the folder.
 */
export async function extractCifarArchive(archive: string, cacheRoot: string): Promise<string> {
  const entries = await readTarFile(archive);
  const members = entries.filter((e) => {
    if (e.type !== '0') return false;
    const m = /(?:^|\/)cifar-10-batches-bin\/([^/]+)$/.exec(e.name);
    return !!m && m[1] !== '.' && m[1] !== '..';
  });
  if (!members.some((e) => basename(e.name) === CIFAR10_BATCHES[0])) {
    throw new DatasetError(`${archive}: has no ${CIFAR10_FOLDER}/${CIFAR10_BATCHES[0]} (the binary version, ${CIFAR10_ARCHIVE.name}, is needed; not the python or matlab one)`);
  }
  for (const e of members) if (/^(data|test)_batch(_\d)?\.bin$/.test(basename(e.name))) parseCifarBatch(e.data, `${archive}: ${e.name}`);
  await mkdir(cacheRoot, { recursive: true });
  const final = join(cacheRoot, CIFAR10_FOLDER);
  const tmp = await mkdtemp(join(cacheRoot, `.${CIFAR10_FOLDER}.tmp-`));
  try {
    for (const e of members) await writeFile(join(tmp, basename(e.name)), e.data);
    try {
      await rename(tmp, final);
    } catch (err) {
      // Another process extracted it first (or a leftover folder is in the way): use a complete one, else report.
      if (!findCifarBatchDir(final)) throw new DatasetError(`${final}: cannot put the extracted batches there (${(err as Error).message})`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return final;
}

export interface DownloadOptions {
  url?: string;
  /** The fetch to use (tests pass their own). */
  fetch?: typeof fetch;
  /** Expected byte count and MD5 of the archive (default: the published CIFAR-10 binary archive's). */
  expectedSize?: number;
  md5?: string;
  /** Give up when no byte arrives for this long (default 60 s). */
  stallMs?: number;
}

function why(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  return [err?.message, cause?.code ?? cause?.message].filter(Boolean).join(': ') || String(e);
}

/** Downloads url to file, reporting bytes loaded/total, checking the size and MD5. */
export async function downloadFile(url: string, file: string, o: DownloadOptions & { onProgress?: LoadProgress; offlineHint: string }): Promise<void> {
  const f = o.fetch ?? fetch;
  const stallMs = o.stallMs ?? 60_000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const stalled = () => new DatasetError(`${url}: download stalled (no data for ${stallMs / 1000} s). ${o.offlineHint}`);
  try {
    let res: Response;
    try {
      res = await f(url, { signal: controller.signal });
    } catch (e) {
      if (controller.signal.aborted) throw stalled();
      throw new DatasetError(`could not download ${url} (${why(e)}). ${o.offlineHint}`);
    }
    if (!res.ok || !res.body) throw new DatasetError(`could not download ${url} (HTTP ${res.status} ${res.statusText}). ${o.offlineHint}`);
    const announced = Number(res.headers.get('content-length') ?? NaN);
    if (o.expectedSize !== undefined && Number.isFinite(announced) && announced !== o.expectedSize) {
      throw new DatasetError(`${url}: the server offers ${announced} bytes, but ${basename(file)} should be ${o.expectedSize} bytes`);
    }
    const total = o.expectedSize ?? (Number.isFinite(announced) ? announced : 0);
    const hash = createHash('md5');
    const fh = await open(file, 'w');
    let loaded = 0;
    let lastReport = 0;
    try {
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (controller.signal.aborted) throw stalled();
          throw new DatasetError(`${url}: download failed after ${loaded} bytes (${why(e)}). ${o.offlineHint}`);
        }
        if (chunk.done) break;
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), stallMs);
        hash.update(chunk.value);
        await fh.write(chunk.value);
        loaded += chunk.value.length;
        if (o.expectedSize !== undefined && loaded > o.expectedSize) throw new DatasetError(`${url}: more than the expected ${o.expectedSize} bytes: not the CIFAR-10 archive`);
        const now = Date.now();
        if (o.onProgress && now - lastReport >= 200) {
          lastReport = now;
          o.onProgress(loaded, total, 'bytes downloaded');
        }
      }
    } finally {
      await fh.close();
    }
    o.onProgress?.(loaded, total || loaded, 'bytes downloaded');
    if (o.expectedSize !== undefined && loaded !== o.expectedSize) {
      throw new DatasetError(`${url}: downloaded ${loaded} bytes, expected ${o.expectedSize}: the download was cut off`);
    }
    const md5 = hash.digest('hex');
    if (o.md5 && md5 !== o.md5.toLowerCase()) throw new DatasetError(`${url}: MD5 ${md5} is not the published ${o.md5}: corrupt download`);
  } finally {
    clearTimeout(timer);
  }
}

/** Downloads the archive into the cache root and extracts it there; returns the batch folder. */
export async function downloadCifar10(cacheRoot: string, o: DownloadOptions & { onProgress?: LoadProgress } = {}): Promise<string> {
  const url = o.url ?? CIFAR10_URL;
  const offlineHint =
    `Without internet access: get ${CIFAR10_ARCHIVE.name} (${url}) on another machine, extract it (tar xzf ${CIFAR10_ARCHIVE.name}) ` +
    `and pass --data_dir with the extracted binary batches (the ${CIFAR10_FOLDER} folder holding data_batch_1.bin … data_batch_5.bin, ` +
    `or its parent, or the .tar.gz itself), or put that folder at ${join(cacheRoot, CIFAR10_FOLDER)}`;
  try {
    await mkdir(cacheRoot, { recursive: true });
  } catch (e) {
    throw new DatasetError(`${cacheRoot}: cannot create the cache folder (${(e as Error).message}); set LIQUIDFLOW_CACHE or pass --data_dir`);
  }
  const part = join(cacheRoot, `.${CIFAR10_ARCHIVE.name}.${process.pid}.part`);
  try {
    await downloadFile(url, part, {
      ...o,
      expectedSize: o.expectedSize ?? (o.url ? undefined : CIFAR10_ARCHIVE.size),
      md5: o.md5 ?? (o.url ? undefined : CIFAR10_ARCHIVE.md5),
      offlineHint,
    });
    return await extractCifarArchive(part, cacheRoot);
  } finally {
    await rm(part, { force: true });
  }
}

export interface Cifar10Options {
  /** The batch folder, its parent, or the .tar.gz. Without it: the cache, else a download into the cache. */
  dataDir?: string;
  /** The cache root (default liquidflowCacheDir()). */
  cacheDir?: string;
  onProgress?: LoadProgress;
  onWarning?: WarningSink;
  download?: DownloadOptions;
}

export async function loadCifar10(size: number, o: Cifar10Options = {}): Promise<Cifar10Dataset> {
  const cacheRoot = resolve(o.cacheDir ?? liquidflowCacheDir());
  let dir: string | undefined;
  if (o.dataDir !== undefined) {
    const p = resolve(o.dataDir);
    if (!existsSync(p)) throw new DatasetError(`${p}: no such file or folder (pass the extracted ${CIFAR10_FOLDER} folder, its parent, or ${CIFAR10_ARCHIVE.name})`);
    if (statSync(p).isFile()) {
      dir = findCifarBatchDir(cacheRoot) ?? (await extractCifarArchive(p, cacheRoot));
    } else {
      dir = findCifarBatchDir(p);
      const archive = [join(p, CIFAR10_ARCHIVE.name)].find(existsSync);
      if (!dir && archive) dir = await extractCifarArchive(archive, cacheRoot);
      if (!dir) {
        throw new DatasetError(`${p}: no ${CIFAR10_BATCHES[0]} in it nor in ${join(p, CIFAR10_FOLDER)}: pass the folder of the extracted CIFAR-10 binary batches (${CIFAR10_ARCHIVE.name})`);
      }
    }
  } else {
    dir = findCifarBatchDir(cacheRoot) ?? (await downloadCifar10(cacheRoot, { ...o.download, onProgress: o.onProgress }));
  }
  return loadCifarBatchDir(dir, size, o.onProgress, o.onWarning);
}
