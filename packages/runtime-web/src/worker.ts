// The module worker behind createWorkerLiquidFlow() on a page without a bundler: ORT's builds are imported from the
// URLs the page sends (import maps do not reach workers). createWorkerLiquidFlow starts it (dist/worker.js, beside
// dist/index.js) when the page's import map maps 'onnxruntime-web' or `ortUrl` is given.
import { type OrtBuild, ORT_SPECIFIER, loadOrt, setOrtImports } from './ort.js';
import { serveWorker } from './worker-loop.js';

const byUrl = (url: string | undefined, build: OrtBuild) => () =>
  url ? loadOrt(url) : Promise.reject(new Error(`the page sent no URL for it (its import map does not map '${ORT_SPECIFIER[build]}')`));

serveWorker((m) => {
  setOrtImports({ webgpu: byUrl(m.ortUrl, 'webgpu'), wasm: byUrl(m.ortWasmUrl, 'wasm') });
  return {};
});
