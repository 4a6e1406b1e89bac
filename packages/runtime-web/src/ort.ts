// How runtime-web gets onnxruntime-web. ORT ships two browser builds, and each device runs on its own:
// - 'webgpu': 'onnxruntime-web' (WebGPU and WASM providers; its .wasm is built with asyncify for the WebGPU kernels,
//   which slows its WASM provider: on the demo model a call takes ~3x as long at batch 1 and 4, about as long at 16; and its
//   28 MB file compiles 2x longer);
// - 'wasm': 'onnxruntime-web/wasm' (the WASM provider only, 14 MB): what every session on the WASM device uses.
// Never by a static import: an entry point says where each build comes from (setOrtImports): the page's index.ts by
// import() (import map or bundler), bundler-worker*.ts by their own static import (one build each: two ORT builds in
// one file would both answer ORT's thread messages), worker.ts by the URLs the page sends (import maps do not apply in
// workers). The `ort` / `ortWasm` options override them.
import type * as OrtModule from 'onnxruntime-web';

export type Ort = typeof OrtModule;

/** An ORT module, the URL of ORT's ESM build (e.g. '/node_modules/onnxruntime-web/dist/ort.min.mjs'), or nothing. */
export type OrtSource = Ort | string | URL | undefined;

/** Which ORT build: 'webgpu' ('onnxruntime-web', both providers) or 'wasm' ('onnxruntime-web/wasm', WASM only). */
export type OrtBuild = 'webgpu' | 'wasm';

/** The bare specifier of each build (what an import map or a bundler resolves). */
export const ORT_SPECIFIER: Record<OrtBuild, string> = { webgpu: 'onnxruntime-web', wasm: 'onnxruntime-web/wasm' };

/** ORT's ESM file of each build in its dist/ folder (for import maps and error messages). */
export const ORT_DIST_FILE: Record<OrtBuild, string> = { webgpu: 'ort.min.mjs', wasm: 'ort.wasm.min.mjs' };

export interface OrtOptions {
  /** onnxruntime-web itself or the URL of its ESM file, for every session (default: the entry point's, by device). */
  ort?: OrtSource;
  /** ORT for sessions on WASM (default: `ort` if given, else 'onnxruntime-web/wasm'). */
  ortWasm?: OrtSource;
}

const imports: Partial<Record<OrtBuild, () => Promise<Ort>>> = {};

/** Sets where each build comes from when the options name none (called once by each entry point). */
export function setOrtImports(from: Partial<Record<OrtBuild, () => Promise<Ort>>>): void {
  Object.assign(imports, from);
}

export async function loadOrt(source: Ort | string | URL): Promise<Ort> {
  if (typeof source === 'object' && !(source instanceof URL)) return source;
  const href = String(source);
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ href)) as Ort;
  } catch (e) {
    throw new Error(`could not load onnxruntime-web from '${href}': ${(e as Error).message}`);
  }
}

const importMapHint = (build: OrtBuild) =>
  `{"imports": {"${ORT_SPECIFIER[build]}": "/node_modules/onnxruntime-web/dist/${ORT_DIST_FILE[build]}"}}`;

async function importBuild(build: OrtBuild): Promise<Ort> {
  const from = imports[build];
  if (!from) throw new Error(`this script has no way to load ORT's ${build} build ('${ORT_SPECIFIER[build]}')`);
  try {
    return await from();
  } catch (e) {
    throw new Error(
      `could not import '${ORT_SPECIFIER[build]}' (${(e as Error).message}). Without a bundler, map it in an import map, e.g. ` +
        `${importMapHint(build)}, or pass its URL as the '${build === 'wasm' ? 'ortWasm' : 'ort'}' option.`,
    );
  }
}

/**
 * The ORT for a session on `build`'s device, and `note`: empty, or why the WASM device runs on ORT's WebGPU build
 * (its wasm build could not be imported: slower; said in deviceReason and on the console).
 */
export async function ortFor(build: OrtBuild, o: OrtOptions): Promise<{ ort: Ort; note: string }> {
  const given = build === 'wasm' ? (o.ortWasm ?? o.ort) : o.ort;
  if (given) return { ort: await loadOrt(given), note: '' };
  if (build === 'webgpu' || !imports.webgpu) return { ort: await importBuild(build), note: '' };
  let cause = 'this script has no way to load it';
  if (imports.wasm) {
    try {
      return { ort: await imports.wasm(), note: '' };
    } catch (e) {
      cause = String((e as Error)?.message ?? e).split('\n')[0];
    }
  }
  const ort = await importBuild('webgpu');
  const note =
    `on ORT's WebGPU build, whose WASM provider is slower (~3x at batch 1): '${ORT_SPECIFIER.wasm}' could not be imported (${cause}); ` +
    `map it to …/${ORT_DIST_FILE.wasm} in the import map`;
  console.warn(`@liquidflow/runtime-web: WASM runs ${note}`);
  return { ort, note };
}

/** The URL the page's import map (or a bundler) gives a build's specifier, to hand to a worker; undefined if unknown. */
export function resolveOrtUrl(build: OrtBuild = 'webgpu'): string | undefined {
  try {
    const resolve = (import.meta as ImportMeta & { resolve?: (s: string) => string }).resolve;
    const url = resolve?.(ORT_SPECIFIER[build]);
    return url && /^(https?|blob|file):/.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}
