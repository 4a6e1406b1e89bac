// Where runtime-node gets a model's bytes: a file path (or file: URL), an http(s) URL (core's downloadModel, the same
// download, limits and errors as runtime-web's), or the bytes themselves. Sizes are checked before reading.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ModelDownloadOptions, type ModelDtype, type ModelProgressEvent, MODEL_DTYPES, ModelDownloadError, downloadLimits, downloadModel, dtypeFileIn, dtypeFileName,
  dtypesAtUrl, isModelFolder, missingDtypeError, ModelFileError, modelFileName,
} from '@liquidflow/core';

/** A file path, an http(s) or file: URL, or the model's bytes. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob;

export type ProgressEvent = ModelProgressEvent<'cpu' | 'cuda'>;
export type ProgressCallback = (event: ProgressEvent) => void;

export interface ReadModelOptions extends ModelDownloadOptions {
  progress_callback?: ProgressCallback;
}

export interface ModelBytes {
  bytes: Uint8Array;
  /** The path or URL, for messages; 'model bytes' when given as bytes. */
  name: string;
  from: 'file' | 'network' | 'bytes';
  /** Whether `bytes` is ours alone (read or downloaded here), so its buffer may be handed to the worker. */
  owned: boolean;
}

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** A path, or the URL to download; other URL schemes are refused naming the source. */
function locate(source: string | URL): { path: string } | { url: string } {
  const text = String(source);
  const scheme = source instanceof URL ? source.protocol.slice(0, -1) : URL_SCHEME.exec(text)?.[1];
  if (scheme === undefined) return { path: text };
  switch (scheme.toLowerCase()) {
    case 'http':
    case 'https':
      return { url: new URL(text).href };
    case 'file':
      return { path: fileURLToPath(text) };
    default:
      throw new Error(`${text}: cannot load a model from a ${scheme}: URL (expected a file path, or an http, https or file URL)`);
  }
}

async function readModelFile(path: string, o: ReadModelOptions): Promise<Uint8Array> {
  const emit = o.progress_callback ?? (() => {});
  const { cap, expected } = downloadLimits(path, o);
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error(`${path}: not a file`);
    size = s.size;
  } catch (e) {
    throw new Error((e as NodeJS.ErrnoException).code === 'ENOENT' ? `${path}: model file not found` : (e as Error).message);
  }
  if (size > cap) throw new ModelFileError(`${path}: model file is ${size} bytes, above the limit of ${cap} bytes (option maxBytes)`);
  if (expected !== undefined && size !== expected) throw new ModelFileError(`${path}: model file is ${size} bytes, not the expected ${expected} (option expectedBytes)`);
  const buf = await readFile(path);
  const name = path;
  const file = modelFileName(path);
  emit({ status: 'progress', name, file, loaded: buf.length, total: buf.length, progress: 100, cached: false });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The model's bytes from a path, a URL or as given, with progress events (initiate, download, progress, done). A
 * folder, or a URL not ending in .onnx, holds one file per dtype (model.onnx, model_fp16.onnx, ...): `dtype` picks one,
 * and a missing one fails listing those present.
 */
export async function readModel(source: ModelSource, o: ReadModelOptions = {}, dtype: ModelDtype = 'fp32'): Promise<ModelBytes> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'model bytes', from: 'bytes', owned: false };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'model bytes', from: 'bytes', owned: false };
  if (source instanceof Blob) return { bytes: new Uint8Array(await source.arrayBuffer()), name: 'model bytes', from: 'bytes', owned: true };
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw new TypeError(`LiquidFlow.load: expected a file path, a URL or the model's bytes (Uint8Array, ArrayBuffer, Blob), got ${Object.prototype.toString.call(source)}`);
  }
  let where = locate(source);
  let folder: string | null = null;
  if ('path' in where && (await stat(where.path).catch(() => null))?.isDirectory()) {
    folder = where.path;
    where = { path: join(folder, dtypeFileName(dtype)) };
    if (!(await stat(where.path).catch(() => null))) {
      const names = new Set(await readdir(folder));
      throw missingDtypeError(folder, dtype, MODEL_DTYPES.filter((d) => names.has(dtypeFileName(d))));
    }
  } else if ('url' in where && isModelFolder(where.url)) {
    folder = where.url;
    where = { url: dtypeFileIn(folder, dtype) };
  }
  const name = 'url' in where ? where.url : where.path;
  const emit = o.progress_callback ?? (() => {});
  emit({ status: 'initiate', name, file: modelFileName(name) });
  let bytes: Uint8Array;
  try {
    bytes = 'url' in where ? await downloadModel(where.url, o) : await readModelFile(where.path, o);
  } catch (e) {
    if (folder && e instanceof ModelDownloadError && e.status === 404) throw missingDtypeError(folder, dtype, await dtypesAtUrl(folder, o.fetchInit));
    throw e;
  }
  emit({ status: 'done', name, file: modelFileName(name), cached: false });
  return { bytes, name, from: 'url' in where ? 'network' : 'file', owned: true };
}
