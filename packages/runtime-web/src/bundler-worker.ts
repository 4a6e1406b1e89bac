// The module worker behind createWorkerLiquidFlow() in a bundled app: ORT is a static import, so the bundler puts it
// into this one file (a worker bundle without code splitting, as vite's default worker format needs), and ORT's thread
// workers start from this file too (worker-loop.ts lets them be threads).
import * as ort from 'onnxruntime-web';
import { serveWorker } from './worker-loop.js';

serveWorker((ortUrl) => ortUrl ?? ort);
