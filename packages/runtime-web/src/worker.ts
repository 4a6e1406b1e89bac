// The module worker behind createWorkerLiquidFlow() on a page without a bundler: ORT is imported from the URL the page
// sends (import maps do not reach workers). createWorkerLiquidFlow starts it (dist/worker.js, beside dist/index.js)
// when the page's import map maps 'onnxruntime-web' or `ortUrl` is given.
import { serveWorker } from './worker-loop.js';

serveWorker((ortUrl) => ortUrl);
