// Picks the fastest TensorFlow.js backend present: tensorflow-gpu > tensorflow > wasm > cpu. The tfjs-node packages
// are optional dependencies (their install fails on machines that cannot download libtensorflow), so a missing one
// is expected; any other failure is reported with the backend's name.
import * as tf from '@tensorflow/tfjs';

export const BACKEND_PRIORITY = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_PRIORITY)[number];

export interface BackendChoice {
  name: BackendName;
  /** Why each better backend was passed over. */
  skipped: { name: BackendName; reason: string }[];
}

/**
 * Whether TF.js's wasm backend aborted because its heap (one wasm32 memory, at most 4 GB) ran out: XNNPACK then
 * fails with "memory access out of bounds" or "Aborted()", naming neither the cause nor a way out, and the module is
 * dead afterwards (every later call into it faults, disposing included).
 */
export const isWasmHeapExhausted = (e: unknown, backend: string = tf.getBackend()) =>
  backend === 'wasm' && /memory access out of bounds|out of memory|Aborted\(/i.test(e instanceof Error ? e.message : String(e));

export const isMissingModule = (e: unknown) =>
  e instanceof Error && /Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(e.message);

async function tryInit(name: BackendName): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
      // The native addon registers the 'tensorflow' backend, backed by CUDA in this package.
      await import('@tensorflow/tfjs-node-gpu' as string);
      break;
    case 'tensorflow':
      await import('@tensorflow/tfjs-node' as string);
      break;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      break;
    case 'cpu':
      break;
  }
  const registered = name === 'tensorflow-gpu' ? 'tensorflow' : name;
  if (!(await tf.setBackend(registered))) throw new Error(`tf.setBackend('${registered}') returned false`);
  await tf.ready();
}

/**
 * Initialise a backend. With `requested`, only that one is tried and a failure throws; otherwise the best present
 * is chosen and the reasons the better ones were skipped are returned.
 */
export async function selectBackend(requested?: BackendName | 'auto'): Promise<BackendChoice> {
  if (requested && requested !== 'auto') {
    if (!BACKEND_PRIORITY.includes(requested)) {
      throw new Error(`unknown backend '${requested}': expected auto or one of ${BACKEND_PRIORITY.join(', ')}`);
    }
    try {
      await tryInit(requested);
    } catch (e) {
      const hint = requested.startsWith('tensorflow')
        ? ` (install it with: npm i @tensorflow/${requested === 'tensorflow' ? 'tfjs-node' : 'tfjs-node-gpu'}@4.22.0)`
        : '';
      throw new Error(`backend '${requested}' is not available: ${(e as Error).message}${hint}`);
    }
    return { name: requested, skipped: [] };
  }
  const skipped: BackendChoice['skipped'] = [];
  for (const name of BACKEND_PRIORITY) {
    try {
      await tryInit(name);
      return { name, skipped };
    } catch (e) {
      skipped.push({ name, reason: isMissingModule(e) ? 'package not installed' : (e as Error).message.split('\n')[0] });
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

export function describeChoice(c: BackendChoice): string {
  const why = c.skipped.length ? ` (${c.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : '';
  return `TensorFlow.js backend: ${c.name}${why}`;
}
