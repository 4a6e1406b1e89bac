// The example app: pick a device, load a LiquidFlow .onnx (downloaded once, then from the Cache API), generate a grid.
// It opens on the demo model shipped in the repository (/models/fashion-mnist-tiny/, served by serve.mjs): a folder
// of one file per precision, picked by the dtype option. A model URL ending in .onnx is one file, loaded as it is.
// URL parameters preset the form: ?model=URL&device=auto|webgpu|wasm&dtype=auto|fp32|fp16|q8|q4&count=4&steps=25&sampler=euler&seed=0&worker=1
// (and gpuLatents=0 to read the latents back to the CPU after every WebGPU step instead of keeping them on the GPU).
import { LiquidFlow, createWorkerLiquidFlow, drawGridToCanvas, imageGridData, toPngBlob, clearCache } from '@liquidflow/runtime-web';

// ORT's .wasm and .mjs files, served from this site (copied from node_modules/onnxruntime-web/dist/): no CDN needed.
const WASM_PATHS = '/node_modules/onnxruntime-web/dist/';
// A worker cannot see the import map: it gets ORT's ESM files (its WebGPU and its WASM-only build) by URL.
const ORT_URL = '/node_modules/onnxruntime-web/dist/ort.min.mjs';
const ORT_WASM_URL = '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

const $ = (id) => document.getElementById(id);
const ui = {
  model: $('model'), device: $('device-select'), dtype: $('dtype-select'), worker: $('use-worker'), count: $('count'), steps: $('steps'),
  sampler: $('sampler'), seed: $('seed'), generate: $('generate'), cancel: $('cancel'), progress: $('progress'),
  progressText: $('progress-text'), deviceText: $('device'), dtypeText: $('dtype'), cacheText: $('cache'), error: $('error'), grid: $('grid'),
  download: $('download'), clearCache: $('clear-cache'),
};

// Preset the form from the page's URL.
const params = new URLSearchParams(location.search);
for (const [key, el] of [['model', ui.model], ['device', ui.device], ['dtype', ui.dtype], ['count', ui.count], ['steps', ui.steps], ['sampler', ui.sampler], ['seed', ui.seed]]) {
  if (params.has(key)) el.value = params.get(key);
}
ui.worker.checked = params.get('worker') === '1';

// What the page did, for the console (and the tests): the loaded model, its load events, the last images.
const state = { lf: null, key: '', events: [], images: null, status: 'idle', error: '', generations: 0 };
window.liquidflowExample = state;

function setStatus(status, text) {
  state.status = status;
  document.body.dataset.state = status;
  if (text !== undefined) ui.progressText.textContent = text;
}

function showDevice(lf) {
  // e.g. "WebGPU unavailable: no adapter — running on wasm (1 thread)" (a fallback's reason says where it runs) or
  // "Running on webgpu (auto: WebGPU adapter ...)".
  ui.deviceText.textContent =
    (lf.deviceReason.includes(' — running on ') ? lf.deviceReason : `Running on ${lf.device} (${lf.deviceReason})`) +
    (lf.latentsOnGpu ? ' · latents stay on the GPU' : '');
  ui.dtypeText.textContent = `${lf.dtype} (${lf.dtypeReason})`;
  ui.deviceText.dataset.device = lf.device;
}

async function load() {
  const device = ui.device.value;
  const inWorker = ui.worker.checked;
  // A .onnx URL is one file, whatever its precision: 'auto' takes it as it is.
  const dtype = /\.onnx([?#].*)?$/i.test(ui.model.value) ? 'auto' : ui.dtype.value;
  const key = `${ui.model.value}|${device}|${dtype}|${inWorker}`;
  if (state.lf && state.key === key) return state.lf;
  if (state.lf) await state.lf.dispose();
  state.lf = null;
  state.events = [];
  setStatus('loading', 'loading model…');
  ui.progress.value = 0;
  // Download progress comes from the runtime's progress_callback; creating the session (starting ORT's WASM and
  // opening the model) reports nothing until it is done, so the bar turns indeterminate and a clock counts.
  let opening = null;
  const stopOpening = () => {
    clearInterval(opening);
    opening = null;
  };
  const progress_callback = (e) => {
    state.events.push(e);
    if (e.status === 'download') ui.progressText.textContent = 'downloading…';
    else if (e.status === 'progress') {
      ui.progress.value = e.progress;
      const mb = (n) => (n / 1e6).toFixed(2);
      ui.progressText.textContent = `${e.cached ? 'reading cache' : 'downloading'} ${mb(e.loaded)} / ${mb(e.total)} MB (${Math.round(e.progress)}%)`;
    } else if (e.status === 'done') {
      ui.progress.removeAttribute('value'); // indeterminate: the browser animates it
      const start = performance.now();
      const on = device === 'auto' ? '' : ` on ${device}`;
      const tick = () => (ui.progressText.textContent = `opening the model${on}… ${((performance.now() - start) / 1000).toFixed(1)} s`);
      tick();
      opening = setInterval(tick, 100);
    } else if (e.status === 'ready') {
      stopOpening();
      ui.progress.value = 100;
      ui.progressText.textContent = `model ready on ${e.device}`;
    }
  };
  const options = { device, dtype, progress_callback, wasmPaths: WASM_PATHS, gpuLatents: params.get('gpuLatents') !== '0' };
  let lf;
  try {
    lf = inWorker ? await createWorkerLiquidFlow(ui.model.value, { ...options, ortUrl: ORT_URL, ortWasmUrl: ORT_WASM_URL }) : await LiquidFlow.load(ui.model.value, options);
  } finally {
    stopOpening();
    if (!ui.progress.hasAttribute('value')) ui.progress.value = 0; // a failed load leaves no spinning bar
  }
  state.lf = lf;
  state.key = key;
  showDevice(lf);
  const c = lf.config;
  ui.cacheText.textContent = `${c.arch} ${c.variant} ${c.img_size}px, ${lf.source === 'cache' ? 'from the cache' : lf.source === 'network' ? 'downloaded' : 'given as bytes'} (cache: ${lf.cacheStatus})${inWorker ? ', in a worker' : ''}`;
  ui.cacheText.dataset.source = lf.source;
  return lf;
}

let controller = null;

async function generate() {
  ui.error.textContent = '';
  state.error = '';
  ui.generate.disabled = true;
  try {
    const lf = await load();
    controller = new AbortController();
    ui.cancel.disabled = false;
    setStatus('generating', 'generating…');
    ui.progress.value = 0;
    const count = Number(ui.count.value);
    const images = await lf.generate({
      count, steps: Number(ui.steps.value), sampler: ui.sampler.value, seed: Number(ui.seed.value), signal: controller.signal,
      onProgress: (p) => {
        ui.progress.value = (100 * p.step) / p.total;
        ui.progressText.textContent = `step ${p.step}/${p.total} · ${(p.elapsed / 1000).toFixed(1)} s`;
      },
    });
    drawGridToCanvas(images, ui.grid);
    if (ui.download.href) URL.revokeObjectURL(ui.download.href);
    ui.download.href = URL.createObjectURL(await toPngBlob(imageGridData(images)));
    ui.download.hidden = false;
    state.images = images;
    state.generations++;
    setStatus('done', `${count} image${count === 1 ? '' : 's'} on ${lf.device} · ${ui.progressText.textContent.split('·')[1]?.trim() ?? ''}`);
  } catch (e) {
    state.error = e.message;
    ui.error.textContent = e.name === 'AbortError' ? 'cancelled' : e.message;
    setStatus(e.name === 'AbortError' ? 'cancelled' : 'error', e.name === 'AbortError' ? 'cancelled' : 'failed');
  } finally {
    ui.generate.disabled = false;
    ui.cancel.disabled = true;
    controller = null;
  }
}

ui.generate.addEventListener('click', generate);
ui.cancel.addEventListener('click', () => controller?.abort());
ui.clearCache.addEventListener('click', async () => {
  await clearCache();
  ui.cacheText.textContent = 'cache cleared';
});
state.load = load;
state.generate = generate;
setStatus('idle');
