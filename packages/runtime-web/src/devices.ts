/// <reference types="@webgpu/types" />
// Picks the execution provider. 'auto' tries WebGPU (navigator.gpu present, an adapter obtainable and not a software
// fallback, the session creates) and otherwise falls back to WASM, saying why. WASM uses threads where the page is cross-origin isolated
// (COOP same-origin + COEP require-corp: SharedArrayBuffer is allowed), one thread otherwise.
import { type DtypeOption, type ModelDtype } from '@liquidflow/core';
import { engineError } from '@liquidflow/core';
import type { InferenceSession } from 'onnxruntime-web';
import type { Ort } from './ort.js';
import { ThreadStartError, watchThreadStart } from './ort-threads.js';

export type WebDevice = 'auto' | 'webgpu' | 'wasm';
export const WEB_DEVICES: readonly WebDevice[] = ['auto', 'webgpu', 'wasm'];

export interface WasmOptions {
  /** Where ORT's .wasm and .mjs files are served (a folder URL ending in '/', or ORT's { wasm, mjs } object). */
  wasmPaths?: string | { wasm?: string | URL; mjs?: string | URL };
  /** WASM threads (default: up to 4 when cross-origin isolated, else 1). */
  threads?: number;
  /** How long ORT's thread workers may take to start before the load fails with a ThreadStartError (default 30000). */
  threadStartTimeoutMs?: number;
}

export interface OpenedSession {
  session: InferenceSession;
  device: 'webgpu' | 'wasm';
  reason: string;
  threads: number;
  /** Why that many threads. */
  threadsReason: string;
}

const isolated = () => typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;

/** The thread count runtime-web gives the WASM provider. */
export function wasmThreads(requested?: number): number {
  if (!isolated()) return 1;
  if (requested && requested > 0) return Math.floor(requested);
  const cores = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
  return Math.max(1, Math.min(4, cores));
}

/** Why wasmThreads(requested) gives what it gives. */
function threadsWhy(requested: number | undefined, threads: number): string {
  if (!isolated()) return 'page not cross-origin isolated (no SharedArrayBuffer): 1 thread';
  if (requested && requested > 0) return `requested: ${threads} thread${threads === 1 ? '' : 's'}`;
  return `cross-origin isolated: ${threads} thread${threads === 1 ? '' : 's'} (up to 4, one per core)`;
}

// ORT reads env.wasm once, when its WASM module first initializes (both providers share it); later changes are ignored.
let configured: { threads: number; reason: string; started: boolean } | null = null;

function configureWasm(ort: Ort, o: WasmOptions): { threads: number; reason: string; started: boolean } {
  if (configured) return configured;
  const threads = wasmThreads(o.threads);
  ort.env.wasm.numThreads = threads;
  if (o.wasmPaths) ort.env.wasm.wasmPaths = o.wasmPaths as typeof ort.env.wasm.wasmPaths;
  configured = { threads, reason: threadsWhy(o.threads, threads), started: false };
  return configured;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** Why WebGPU cannot be used here, or the adapter to use; `fallback`: a software adapter (e.g. SwiftShader). */
export type WebGpuProbe = { adapter: GPUAdapter; description: string; fallback: boolean } | { why: string };

export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  if (!gpu) {
    const secure = typeof isSecureContext === 'undefined' || isSecureContext;
    return { why: secure ? 'navigator.gpu is missing (this browser has no WebGPU, or it is disabled)' : 'navigator.gpu is missing (not a secure context: serve over https or localhost)' };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { why: `requestAdapter failed (${firstLine(e)})` };
  }
  if (!adapter) return { why: 'no adapter' };
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  const description = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  // The flag moved from the adapter (older browsers) to its info (the current spec); either says so.
  const fallback = Boolean(info?.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter);
  return { adapter, description, fallback };
}

/** Opens `bytes` (from `where`, named in errors) on a device. */
export async function openSession(
  ort: Ort, bytes: Uint8Array, device: WebDevice, o: WasmOptions & { gpuLatents?: boolean } = {}, where = 'model',
  /** The adapter probe already made for this load (chooseDtype's), so the adapter is requested once. */
  probed?: WebGpuProbe,
): Promise<OpenedSession> {
  if (!WEB_DEVICES.includes(device)) throw new Error(`unknown device '${device}': expected one of ${WEB_DEVICES.join(', ')}`);
  const wasm = configureWasm(ort, o);
  const { threads, reason: threadsReason } = wasm;
  const coiNote = typeof crossOriginIsolated === 'undefined' || isolated() ? '' : ', page not cross-origin isolated';
  const wasmNote = `${threads} thread${threads === 1 ? '' : 's'}${coiNote}`;
  // The first session starts ORT's WASM module and its threads: watched, so threads that cannot start fail the load
  // (a ThreadStartError) instead of leaving it waiting forever.
  const create = async (ep: 'webgpu' | 'wasm') => {
    if (wasm.started || threads === 1) return createOn(ep);
    const session = await watchThreadStart(() => createOn(ep), threads, o.threadStartTimeoutMs);
    wasm.started = true;
    return session;
  };
  const createOn = (ep: 'webgpu' | 'wasm') =>
    ort.InferenceSession.create(bytes, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      // On WebGPU the velocity stays in a GPU buffer for the GPU-side update (gpu-sampler.ts); getData() reads it back
      // where the CPU loop needs it.
      ...(ep === 'webgpu' && o.gpuLatents !== false ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
  // WASM is the fallback that always exists: its failure is the model's, said with the URL and a cleaned message.
  const onWasm = () => create('wasm').catch((e) => {
    if (e instanceof ThreadStartError) throw e;
    throw engineError(where, 'open the model', e);
  });
  if (device === 'wasm') return { session: await onWasm(), device: 'wasm', reason: `requested, ${wasmNote}`, threads, threadsReason };
  const probe = probed ?? (await probeWebGpu());
  let why: string;
  if ('adapter' in probe && probe.fallback && device === 'auto') {
    // A software adapter runs WebGPU on the CPU, measured ~0.4 GFLOP/s against wasm's ~25: far slower than wasm.
    return {
      session: await onWasm(), device: 'wasm', threads, threadsReason,
      reason: `WebGPU not used: adapter ${probe.description} is a software fallback, many times slower than wasm — running on wasm (${wasmNote})`,
    };
  }
  if ('adapter' in probe) {
    try {
      // Hand ORT the adapter we probed, unless its WebGPU backend already holds one.
      if (!ort.env.webgpu.adapter) ort.env.webgpu.adapter = probe.adapter;
    } catch {
      /* ORT's WebGPU backend is already initialized: it keeps its own adapter */
    }
    try {
      const session = await create('webgpu');
      const soft = probe.fallback ? ' (a software fallback, slower than wasm)' : '';
      return { session, device: 'webgpu', reason: `${device === 'auto' ? 'auto: ' : 'requested: '}WebGPU adapter ${probe.description}${soft}`, threads, threadsReason };
    } catch (e) {
      if (e instanceof ThreadStartError) throw e;
      why = `session failed (${firstLine(e)})`;
    }
  } else why = probe.why;
  if (device === 'webgpu') throw new Error(`device 'webgpu' is not available: ${why}`);
  return { session: await onWasm(), device: 'wasm', reason: `WebGPU unavailable: ${why} — running on wasm (${wasmNote})`, threads, threadsReason };
}

/**
 * What `dtype: 'auto'` loads: fp16 where the model will run on a WebGPU adapter with shader-f16 (half the download),
 * fp32 elsewhere; an explicit dtype is loaded as asked. Returns the choice and why.
 */
export async function chooseDtype(requested: DtypeOption, device: WebDevice): Promise<{ dtype: ModelDtype; reason: string; probe?: WebGpuProbe }> {
  if (requested !== 'auto') return { dtype: requested, reason: 'requested' };
  if (device === 'wasm') return { dtype: 'fp32', reason: 'auto: fp32 on wasm' };
  const probe = await probeWebGpu();
  if (!('adapter' in probe)) return { dtype: 'fp32', reason: `auto: fp32 (no WebGPU: ${probe.why})`, probe };
  if (probe.fallback && device === 'auto') return { dtype: 'fp32', reason: 'auto: fp32 (a software WebGPU adapter: the model runs on wasm)', probe };
  if (!probe.adapter.features.has('shader-f16')) return { dtype: 'fp32', reason: `auto: fp32 (WebGPU adapter ${probe.description} lacks shader-f16)`, probe };
  return { dtype: 'fp16', reason: `auto: fp16 (WebGPU adapter ${probe.description} has shader-f16)`, probe };
}
