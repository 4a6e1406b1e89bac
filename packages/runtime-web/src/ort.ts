// How runtime-web gets onnxruntime-web: never by a static import, so the same code runs on a page (import map or
// bundler resolves 'onnxruntime-web') and in a module worker (where import maps do not apply: the page passes the URL
// of ORT's ESM file instead).
import type * as OrtModule from 'onnxruntime-web';

export type Ort = typeof OrtModule;

/** An ORT module, the URL of ORT's ESM build (e.g. '/node_modules/onnxruntime-web/dist/ort.min.mjs'), or nothing. */
export type OrtSource = Ort | string | URL | undefined;

export async function loadOrt(source: OrtSource): Promise<Ort> {
  if (source && typeof source === 'object' && !(source instanceof URL)) return source;
  if (source) {
    const href = String(source);
    try {
      return (await import(/* @vite-ignore */ /* webpackIgnore: true */ href)) as Ort;
    } catch (e) {
      throw new Error(`could not load onnxruntime-web from '${href}': ${(e as Error).message}`);
    }
  }
  try {
    return (await import('onnxruntime-web')) as Ort;
  } catch (e) {
    throw new Error(
      `could not import 'onnxruntime-web' (${(e as Error).message}). Without a bundler, map it in an import map, e.g. ` +
        `{"imports": {"onnxruntime-web": "/node_modules/onnxruntime-web/dist/ort.min.mjs"}}, or pass its URL as the 'ort' option.`,
    );
  }
}

/** The URL the page's import map (or a bundler) gives 'onnxruntime-web', to hand to a worker; undefined if unknown. */
export function resolveOrtUrl(): string | undefined {
  try {
    const resolve = (import.meta as ImportMeta & { resolve?: (s: string) => string }).resolve;
    const url = resolve?.('onnxruntime-web');
    return url && /^(https?|blob|file):/.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}
