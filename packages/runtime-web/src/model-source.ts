// Getting the model's bytes: a download with transformers.js-style progress events, kept in the Cache API (keyed by
// the model's URL, with a SHA-256 of the bytes stored beside them) so that a second visit starts without the network.
// A cached copy is checked on every read (checksum, then the LiquidFlow format check); a bad one is deleted and the
// model downloaded again.
import {
  type LiquidFlowModelInfo, type ModelDownloadOptions, type ModelDtype, type ModelProgressEvent, ModelDownloadError, downloadModel, dtypeFileIn, dtypesAtUrl,
  isModelFolder, missingDtypeError, modelFileName, readLiquidFlowInfo,
} from '@liquidflow/core';

export { ModelDownloadError, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_MAX_MODEL_BYTES } from '@liquidflow/core';

/** The name of the Cache API storage runtime-web uses. */
export const CACHE_NAME = 'liquidflow-models-v1';
const SHA_HEADER = 'x-liquidflow-sha256';

export type ProgressEvent = ModelProgressEvent<'webgpu' | 'wasm'>;

export type ProgressCallback = (event: ProgressEvent) => void;

/** A model URL, or its bytes. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob;

export interface FetchModelOptions extends ModelDownloadOptions {
  progress_callback?: ProgressCallback;
  /** Keep the model in the Cache API (default true). Needs a secure context (https or localhost). */
  cache?: boolean;
}

export interface FetchedModel {
  bytes: Uint8Array;
  info: LiquidFlowModelInfo;
  /** Absolute URL, or 'bytes' when the model was given as bytes. */
  url: string;
  /** Where the bytes came from. */
  from: 'network' | 'cache' | 'bytes';
  /** What happened with the cache, in words (e.g. 'hit', 'stored', 'disabled', 'corrupt entry deleted (...)'). */
  cacheStatus: string;
}

function absolute(url: string | URL): string {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  try {
    return new URL(String(url), base).href;
  } catch {
    return String(url);
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function openCache(): Promise<{ cache: Cache | null; why: string }> {
  if (typeof caches === 'undefined') {
    const secure = typeof isSecureContext === 'undefined' || isSecureContext;
    return { cache: null, why: secure ? 'unavailable (no Cache API here)' : 'unavailable (not a secure context: serve over https or localhost)' };
  }
  try {
    return { cache: await caches.open(CACHE_NAME), why: '' };
  } catch (e) {
    return { cache: null, why: `unavailable (${(e as Error).message})` };
  }
}

/** What is wrong with a cached copy, or '' when it is good. */
async function checkCached(bytes: Uint8Array, sha: string | null, url: string, expectedBytes?: number): Promise<string> {
  if (!sha) return 'no checksum stored';
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) return `${bytes.length} bytes, not the expected ${expectedBytes}`;
  if ((await sha256Hex(bytes)) !== sha) return 'checksum mismatch';
  try {
    readLiquidFlowInfo(bytes, url);
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

/** Gets a LiquidFlow model's bytes from the cache or the network (or takes them as given) and checks its format. */
export async function fetchModel(source: ModelSource, o: FetchModelOptions = {}, dtype: ModelDtype = 'fp32'): Promise<FetchedModel> {
  const emit = o.progress_callback ?? (() => {});
  if (typeof source !== 'string' && !(source instanceof URL)) {
    const bytes =
      source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(await (source as Blob).arrayBuffer());
    return { bytes, info: readLiquidFlowInfo(bytes, 'model bytes'), url: 'bytes', from: 'bytes', cacheStatus: 'not used (bytes given)' };
  }
  // A URL not ending in .onnx is a folder of dtype files (model.onnx, model_fp16.onnx, ...): one is picked by dtype.
  const given = absolute(source);
  const folder = isModelFolder(given) ? given : null;
  const url = folder ? dtypeFileIn(folder, dtype) : given;
  const name = url;
  const file = modelFileName(url);
  emit({ status: 'initiate', name, file });
  const { cache, why } = o.cache === false ? { cache: null, why: 'disabled' } : await openCache();
  let cacheStatus = why;
  if (cache) {
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      const problem = await checkCached(bytes, hit.headers.get(SHA_HEADER), url, o.expectedBytes);
      if (!problem) {
        emit({ status: 'progress', name, file, loaded: bytes.length, total: bytes.length, progress: 100, cached: true });
        emit({ status: 'done', name, file, cached: true });
        return { bytes, info: readLiquidFlowInfo(bytes, url), url, from: 'cache', cacheStatus: 'hit' };
      }
      await cache.delete(url);
      cacheStatus = `corrupt entry deleted (${problem}); downloaded again`;
    }
  }
  let bytes: Uint8Array;
  try {
    bytes = await downloadModel(url, o);
  } catch (e) {
    if (folder && e instanceof ModelDownloadError && e.status === 404) throw missingDtypeError(folder, dtype, await dtypesAtUrl(folder, o.fetchInit));
    throw e;
  }
  const info = readLiquidFlowInfo(bytes, url); // before caching: a wrong file is never stored
  if (cache) {
    try {
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), [SHA_HEADER]: await sha256Hex(bytes) };
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
      cacheStatus ||= 'stored';
    } catch (e) {
      cacheStatus = `not stored (${(e as Error).message})`;
    }
  }
  emit({ status: 'done', name, file, cached: false });
  return { bytes, info, url, from: 'network', cacheStatus };
}

/**
 * Deletes cached models: the one at `url`, or all of them. Resolves to true if something was deleted.
 * Cached models are kept until deleted: publish a changed model under a new URL (e.g. model-v2.onnx) or clear it.
 */
export async function clearCache(url?: string | URL): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  if (url === undefined) return caches.delete(CACHE_NAME);
  const cache = await caches.open(CACHE_NAME);
  return cache.delete(absolute(url));
}

/** Whether a model URL is in the cache (not checked until it is loaded). */
export async function isCached(url: string | URL): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  const cache = await caches.open(CACHE_NAME);
  return (await cache.match(absolute(url))) !== undefined;
}
