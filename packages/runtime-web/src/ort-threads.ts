// onnxruntime-web's WASM threads under bundlers. ORT (its default, bundled build) starts each thread as
// `new Worker(import.meta.url, { type: 'module', name: 'em-pthread' })`: the file that holds ORT. Where a bundler
// (esbuild) puts ORT into the page's own bundle, or into runtime-web's worker bundle, each thread worker loads that whole
// bundle. Two things make that work, and one catches what still fails:
// - index.ts: in such a thread worker, runtime-web (part of the bundle) imports the ORT build whose thread it is (named
//   by watchThreadStart) at once, so that build's thread code takes the messages the page's ORT sends it; and
//   LiquidFlow.load there never proceeds (it would start a model, and more threads, inside a thread).
// - watchThreadStart(): the first threaded session creation watches the thread workers ORT starts; one that fails to load
//   or stays silent past a timeout turns ORT's silent wait into a ThreadStartError.
import type { OrtBuild } from './ort.js';

/** Whether this global scope is a thread worker that ORT started (its name is 'em-pthread...'). */
export function isOrtThreadWorker(): boolean {
  const g = globalThis as { WorkerGlobalScope?: unknown; name?: unknown };
  return g.WorkerGlobalScope !== undefined && typeof g.name === 'string' && g.name.startsWith('em-pthread');
}

/** Which build's thread a thread worker is: watchThreadStart names it (ORT only checks the name's 'em-pthread' start). */
const BUILD_MARK = '-liquidflow-';

/** The ORT build whose thread this worker is ('webgpu' unless watchThreadStart marked it). */
export function threadWorkerBuild(): OrtBuild {
  const name = (globalThis as { name?: unknown }).name;
  return typeof name === 'string' && name.endsWith(`${BUILD_MARK}wasm`) ? 'wasm' : 'webgpu';
}

/** A promise that never settles: what runtime-web's entry points return inside an ORT thread worker. */
export const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** WASM threads did not start (the thread workers failed to load or stayed silent); ORT in this realm cannot recover. */
export class ThreadStartError extends Error {
  override name = 'ThreadStartError';
}

/** Separates what happened from what to do in a ThreadStartError's message. */
export const HINT_SEPARATOR = ' — ';

/** How long each ORT thread worker may take to report that it loaded (default of `threadStartTimeoutMs`). */
export const DEFAULT_THREAD_START_TIMEOUT_MS = 30_000;

/**
 * Watches the thread workers ORT starts while `run` (the first threaded session creation) is pending: resolves with
 * run's result, or rejects with a ThreadStartError when a thread worker fails to load or sends nothing within
 * `timeoutMs` of being created. Restores the global Worker when run settles.
 */
export async function watchThreadStart<T>(run: () => Promise<T>, threads: number, timeoutMs = DEFAULT_THREAD_START_TIMEOUT_MS, build: OrtBuild = 'webgpu'): Promise<T> {
  const Original = globalThis.Worker;
  if (typeof Original !== 'function') return run();
  let fail: (e: ThreadStartError) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const what = `${threads} WASM threads (onnxruntime-web's thread workers)`;
  // After HINT_SEPARATOR: what to do, which a fallback's reason leaves out.
  const hint = `${HINT_SEPARATOR}threads: 1 avoids them; see runtime-web's README, "Bundlers"`;
  class Watched extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      const thread = options?.name?.startsWith('em-pthread') ?? false;
      super(url, thread ? { ...options, name: `${options!.name}${BUILD_MARK}${build}` } : options);
      if (!thread) return;
      const where = String(url).slice(0, 200);
      const timer = setTimeout(() => fail(new ThreadStartError(`${what} did not start within ${timeoutMs} ms (thread script ${where})${hint}`)), timeoutMs);
      timers.add(timer);
      this.addEventListener('message', () => clearTimeout(timer), { once: true });
      this.addEventListener('error', (e) => {
        clearTimeout(timer);
        fail(new ThreadStartError(`${what} failed to load (thread script ${where}: ${(e as ErrorEvent).message || 'script error'})${hint}`));
      });
    }
  }
  globalThis.Worker = Watched;
  try {
    return await Promise.race([run(), failed]);
  } finally {
    if (globalThis.Worker === Watched) globalThis.Worker = Original;
    for (const t of timers) clearTimeout(t);
  }
}
