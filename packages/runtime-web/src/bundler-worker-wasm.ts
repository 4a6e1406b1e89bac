// The module worker behind createWorkerLiquidFlow() in a bundled app when the model runs on WASM: as
// bundler-worker.ts, with ORT's wasm build ('onnxruntime-web/wasm', faster on WASM than the WebGPU build) as its
// only ORT. The page starts this one or bundler-worker.ts by the device (worker-client.ts).
import * as ort from 'onnxruntime-web/wasm';
import type { Ort } from './ort.js';
import { setOrtImports } from './ort.js';
import { serveWorker } from './worker-loop.js';

setOrtImports({ wasm: async () => ort as unknown as Ort });
serveWorker();
