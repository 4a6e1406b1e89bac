// Getting the model's bytes: a download with transformers.js-style progress events, kept in the Cache API (keyed by
// the model's URL, with a SHA-256 of the bytes stored beside them) so that a second visit starts without the network.
// A cached copy is checked on every read (checksum, then the LiquidFlow format check); a bad one is deleted and the
// model downloaded again.
import { type LiquidFlowModelInfo, readLiquidFlowInfo } from '@liquidflow/core';

/** The name of the Cache API storage runtime-web uses. */
export const CACHE_NAME = 'liquidflow-models-v1';
const SHA_HEADER = 'x-liquidflow-sha256';

export type ProgressEvent =
  | { status: 'initiate'; name: string; file: string }
  | { status: 'download'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; loaded: number; total: number; progress: number; cached: boolean }
  | { status: 'done'; name: string; file: string; cached: boolean }
  | { status: 'ready'; name: string; file: string; device: 'webgpu' | 'wasm'; reason: string };

export type ProgressCallback = (event: ProgressEvent) => void;

/** A model URL, or its bytes. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array | Blob;

export interface FetchModelOptions {
  progress_callback?: ProgressCallback;
  /** Keep the model in the Cache API (default true). Needs a secure context (https or localhost). */
  cache?: boolean;
  /** Passed to fetch() (credentials, headers, a signal to cancel, ...). */
  fetchInit?: RequestInit;
  /** End the download when no response or no new bytes arrive for this long (default 30 000 ms). */
  stallTimeoutMs?: number;
  /** The most bytes a download may have (default 2 GiB, protobuf's limit for one .onnx file). */
  maxBytes?: number;
  /** The model's exact size in bytes, when known (e.g. from your own manifest): a longer or shorter body is refused. */
  expectedBytes?: number;
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

const fileName = (url: string) => decodeURIComponent(url.split(/[?#]/)[0].split('/').pop() || url);

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

/** Why a download failed: the URL and the cause are in the message; `cause` is also a field for code to branch on. */
export class ModelDownloadError extends Error {
  override name = 'ModelDownloadError';
  constructor(
    readonly url: string,
    readonly reason: 'http' | 'network' | 'stalled' | 'too-large' | 'cut-short',
    message: string,
  ) {
    super(`${url}: ${message}`);
  }
}

/** Default stall timeout: no response or no new bytes for this long ends the download. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** Default size cap: a single-file ONNX model cannot exceed protobuf's 2 GiB. */
export const DEFAULT_MAX_MODEL_BYTES = 2 ** 31;

const causeOf = (e: unknown): string => {
  const err = e as Error & { cause?: unknown };
  const inner = err?.cause ? (err.cause as Error).message ?? String(err.cause) : '';
  const msg = err?.message ?? String(e);
  return inner && inner !== msg ? `${msg}: ${inner}` : msg;
};

async function download(url: string, name: string, file: string, o: FetchModelOptions): Promise<Uint8Array> {
  const emit = o.progress_callback ?? (() => {});
  const stallMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const cap = o.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const expected = o.expectedBytes;
  for (const [key, v] of [['stallTimeoutMs', stallMs], ['maxBytes', cap]] as const) {
    if (!(typeof v === 'number' && v > 0)) throw new RangeError(`${url}: option ${key} must be a positive number, got ${v}`);
  }
  if (expected !== undefined && !(Number.isInteger(expected) && expected > 0)) {
    throw new RangeError(`${url}: option expectedBytes must be a positive integer, got ${expected}`);
  }
  const fail = (reason: ModelDownloadError['reason'], message: string) => new ModelDownloadError(url, reason, message);
  emit({ status: 'download', name, file });
  // One controller for the whole download: the stall timer (re-armed on every chunk) and the caller's own signal abort it.
  const controller = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, stallMs);
  };
  const userSignal = o.fetchInit?.signal ?? undefined;
  const onUserAbort = () => controller.abort(userSignal?.reason);
  if (userSignal?.aborted) onUserAbort();
  userSignal?.addEventListener('abort', onUserAbort);
  let loaded = 0;
  let total = 0;
  // Errors while waiting or reading: a stall or the caller's abort, else the connection was cut (undici: 'terminated').
  const explain = (e: unknown): Error => {
    if (e instanceof ModelDownloadError) return e;
    if (stalled) return fail('stalled', `download stalled: no data for ${stallMs} ms (${loaded}${total ? ` of ${total}` : ''} bytes received; option stallTimeoutMs)`);
    if (userSignal?.aborted) return e as Error;
    if (loaded === 0 && total === 0) return fail('network', `download failed (${causeOf(e)})`);
    return fail('cut-short', `download cut short after ${loaded}${total ? ` of ${total}` : ''} bytes (${causeOf(e)})`);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetch(url, { ...o.fetchInit, signal: controller.signal });
    } catch (e) {
      throw explain(e);
    }
    if (!response.ok) {
      void response.body?.cancel().catch(() => {});
      throw fail('http', `download failed (HTTP ${response.status} ${response.statusText})`.replace(' )', ')'));
    }
    const header = response.headers.get('content-length');
    // A content-encoded response reports the compressed length; progress then uses it only as an estimate.
    const encoded = !!response.headers.get('content-encoding') && response.headers.get('content-encoding') !== 'identity';
    total = header && !encoded ? Number(header) : 0;
    if (!Number.isFinite(total) || total < 0) total = 0;
    // The most bytes this body may have: what the server or the caller said it is, never more than the cap.
    const limit = Math.min(cap, expected ?? Infinity, total || Infinity);
    const tooLarge = (n: number, what: string) => {
      void response.body?.cancel().catch(() => {});
      const why = expected !== undefined && expected < cap ? `the expected ${expected} bytes` : `the limit of ${cap} bytes (option maxBytes)`;
      return fail('too-large', `download too large: ${what} ${n} bytes, above ${why}`);
    };
    if (total > cap || (expected !== undefined && total > expected)) throw tooLarge(total, 'Content-Length says');
    const chunks: Uint8Array[] = [];
    const report = () => emit({ status: 'progress', name, file, loaded, total: total || loaded, progress: total ? (100 * loaded) / total : 0, cached: false });
    if (!response.body) {
      const all = new Uint8Array(await response.arrayBuffer().catch((e) => { throw explain(e); }));
      if (all.length > limit) throw tooLarge(all.length, 'received');
      chunks.push(all);
      loaded = all.length;
      report();
    } else {
      const reader = response.body.getReader();
      let lastReport = 0;
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw explain(e);
        }
        if (chunk.done) break;
        arm();
        loaded += chunk.value.length;
        // An endless or lying body stops here, not when memory runs out.
        if (loaded > limit) {
          void reader.cancel().catch(() => {});
          throw tooLarge(loaded, 'received at least');
        }
        chunks.push(chunk.value);
        const now = Date.now();
        if (now - lastReport > 50 || loaded === total) {
          lastReport = now;
          report();
        }
      }
    }
    if (total && loaded !== total) throw fail('cut-short', `download cut short after ${loaded} of ${total} bytes`);
    if (expected !== undefined && loaded !== expected) throw fail('cut-short', `download cut short after ${loaded} of the expected ${expected} bytes`);
    const bytes = chunks.length === 1 ? chunks[0] : new Uint8Array(loaded);
    if (chunks.length !== 1) {
      let o2 = 0;
      for (const c of chunks) {
        bytes.set(c, o2);
        o2 += c.length;
      }
    }
    if (!total) emit({ status: 'progress', name, file, loaded, total: loaded, progress: 100, cached: false });
    return bytes;
  } finally {
    clearTimeout(timer);
    userSignal?.removeEventListener('abort', onUserAbort);
  }
}

/** Gets a LiquidFlow model's bytes from the cache or the network (or takes them as given) and checks its format. */
export async function fetchModel(source: ModelSource, o: FetchModelOptions = {}): Promise<FetchedModel> {
  const emit = o.progress_callback ?? (() => {});
  if (typeof source !== 'string' && !(source instanceof URL)) {
    const bytes =
      source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(await (source as Blob).arrayBuffer());
    return { bytes, info: readLiquidFlowInfo(bytes, 'model bytes'), url: 'bytes', from: 'bytes', cacheStatus: 'not used (bytes given)' };
  }
  const url = absolute(source);
  const name = url;
  const file = fileName(url);
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
  const bytes = await download(url, name, file, o);
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
