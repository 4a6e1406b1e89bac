// The worker thread: opens the ORT session and runs the shared sampler against it.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { engineError, type ModelConfig, ONNX_INPUT, ONNX_OUTPUT, sample, SamplingAbortedError } from '@liquidflow/core';
import { openSession } from './devices.js';
import type { FromWorker, ToWorker } from './protocol.js';

if (!parentPort) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let session: ort.InferenceSession | null = null;
let config: ModelConfig | null = null;
let modelPath = 'model';
let queue: Promise<void> = Promise.resolve();

port.on('message', (msg: ToWorker) => {
  // One job at a time: ORT sessions do not take overlapping runs well, and generate() calls may overlap.
  queue = queue.then(() => handle(msg));
});

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === 'close') {
    await session?.release();
    port.close();
    return;
  }
  if (msg.type === 'init') {
    try {
      const opened = await openSession(msg.bytes, msg.device, msg.threads, msg.name);
      config = msg.config;
      modelPath = msg.name;
      session = opened.session;
      post({ type: 'ready', device: opened.device, reason: opened.reason });
    } catch (e) {
      post({ type: 'init-error', message: (e as Error).message, name: (e as Error).name });
    }
    return;
  }
  const s = session as ort.InferenceSession;
  const cfg = config as ModelConfig;
  const cancelled = new Int32Array(msg.cancel);
  const controller = new AbortController();
  try {
    const x = await sample(
      async (xs, ts, shape) => {
        if (Atomics.load(cancelled, 0) === 1) controller.abort();
        const feeds = { [ONNX_INPUT.image]: new ort.Tensor('float32', xs, [...shape]), [ONNX_INPUT.time]: new ort.Tensor('float32', ts, [ts.length]) };
        const out = await s.run(feeds).catch((e) => {
          throw engineError(modelPath, 'run the model', e);
        });
        return out[ONNX_OUTPUT.velocity].data as Float32Array;
      },
      {
        count: msg.count,
        channels: cfg.in_channels,
        size: cfg.img_size,
        steps: msg.steps,
        sampler: msg.sampler,
        seed: msg.seed,
        preview: msg.preview,
        signal: controller.signal,
        model: modelPath,
        onProgress: (p) => {
          if (Atomics.load(cancelled, 0) === 1) controller.abort();
          post({ type: 'progress', id: msg.id, ...p });
        },
      },
    );
    post({ type: 'done', id: msg.id, x }, [x.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', id: msg.id, message: (e as Error).message, name: (e as Error).name, aborted: e instanceof SamplingAbortedError });
  }
}
