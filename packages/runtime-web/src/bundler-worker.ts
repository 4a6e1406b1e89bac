// The module worker behind createWorkerLiquidFlow() in a bundled app when the model runs on WebGPU: ORT is a static
// import, so the bundler puts it into this one file (a worker bundle without code splitting, as vite's default worker
// format needs), and ORT's thread workers start from this file too (worker-loop.ts lets them be threads). One ORT build
// only: a second one in this file would also answer the thread workers' messages. A WASM fallback here runs on it.
import * as ort from 'onnxruntime-web';
import { setOrtImports } from './ort.js';
import { serveWorker } from './worker-loop.js';

setOrtImports({ webgpu: async () => ort, wasm: async () => ort });
serveWorker();
