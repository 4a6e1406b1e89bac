// Downloading a model file with fetch(), in browsers and in Node 18+: transformers.js-style progress events, a stall
// timeout, a size cap checked against Content-Length before the body is read and against the bytes as they arrive,
// and errors that name the URL and the cause. runtime-web (with its Cache API on top) and runtime-node both use it.

/** Load progress, transformers.js-style; `name` is the model's URL or path, `file` its file name. */
export type ModelProgressEvent<Device extends string = string> =
  | { status: 'initiate'; name: string; file: string }
  | { status: 'download'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; loaded: number; total: number; progress: number; cached: boolean }
  | { status: 'done'; name: string; file: string; cached: boolean }
  | { status: 'ready'; name: string; file: string; device: Device; reason: string };

export interface ModelDownloadOptions {
  progress_callback?: (event: ModelProgressEvent<never>) => void;
  /** Passed to fetch() (credentials, headers, a signal to cancel, ...). */
  fetchInit?: RequestInit;
  /** End the download when no response or no new bytes arrive for this long (default 30 000 ms). */
  stallTimeoutMs?: number;
  /** The most bytes a download may have (default 2 GiB, protobuf's limit for one .onnx file). */
  maxBytes?: number;
  /** The model's exact size in bytes, when known (e.g. from your own manifest): a longer or shorter body is refused. */
  expectedBytes?: number;
}

/** The file name at the end of a URL or path ('model.onnx' for 'https://host/m/model.onnx?v=2'). */
export const modelFileName = (url: string): string => {
  const last = url.split(/[?#]/)[0].split(/[/\\]/).pop() || url;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
};

/** Why a download failed: the URL and the cause are in the message; `reason` is also a field for code to branch on. */
export class ModelDownloadError extends Error {
  override name = 'ModelDownloadError';
  constructor(
    readonly url: string,
    readonly reason: 'http' | 'network' | 'stalled' | 'too-large' | 'cut-short',
    message: string,
    /** The HTTP status, when reason is 'http'. */
    readonly status?: number,
  ) {
    super(`${url}: ${message}`);
  }
}

/** Default stall timeout: no response or no new bytes for this long ends the download. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** Default size cap: a single-file ONNX model cannot exceed protobuf's 2 GiB. */
export const DEFAULT_MAX_MODEL_BYTES = 2 ** 31;

/** The limits in `o` with their defaults, checked; errors name `where` (the model's URL or path) and the option. */
export function downloadLimits(where: string, o: ModelDownloadOptions): { stallMs: number; cap: number; expected: number | undefined } {
  const stallMs = o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const cap = o.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const expected = o.expectedBytes;
  for (const [key, v] of [['stallTimeoutMs', stallMs], ['maxBytes', cap]] as const) {
    if (!(typeof v === 'number' && v > 0)) throw new RangeError(`${where}: option ${key} must be a positive number, got ${v}`);
  }
  if (expected !== undefined && !(Number.isInteger(expected) && expected > 0)) {
    throw new RangeError(`${where}: option expectedBytes must be a positive integer, got ${expected}`);
  }
  return { stallMs, cap, expected };
}

const causeOf = (e: unknown): string => {
  const err = e as Error & { cause?: unknown };
  const inner = err?.cause ? (err.cause as Error).message ?? String(err.cause) : '';
  const msg = err?.message ?? String(e);
  return inner && inner !== msg ? `${msg}: ${inner}` : msg;
};

/**
 * Downloads a model's bytes, emitting 'download' and 'progress' events, bounded in time (`stallTimeoutMs`) and size
 * (`maxBytes`, `expectedBytes`). Fails with a ModelDownloadError naming the URL and the cause.
 */
export async function downloadModel(url: string, o: ModelDownloadOptions = {}): Promise<Uint8Array> {
  const emit = o.progress_callback ?? (() => {});
  const name = url;
  const file = modelFileName(url);
  const { stallMs, cap, expected } = downloadLimits(url, o);
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
      throw new ModelDownloadError(url, 'http', `download failed (HTTP ${response.status} ${response.statusText})`.replace(' )', ')'), response.status);
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
