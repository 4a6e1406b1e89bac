/// <reference types="@webgpu/types" />
// Picks the execution provider. 'auto' tries WebGPU (navigator.gpu present, an adapter obtainable and not a software
// fallback, the session creates) and otherwise falls back to WASM, saying why. WASM uses threads where the page is cross-origin isolated
// (COOP same-origin + COEP require-corp: SharedArrayBuffer is allowed), one thread otherwise.
import { type DtypeOption, type ModelDtype } from '@liquidflow/core';
import { engineError } from '@liquidflow/core';
import type { InferenceSession } from 'onnxruntime-web';
import { type Ort, type OrtBuild, type OrtOptions, ortFor } from './ort.js';
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
  /** The ORT build the session runs on (ORT's wasm build on WASM, its WebGPU build on WebGPU). */
  ort: Ort;
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

// Each ORT build reads its env.wasm once, when its WASM module first initializes (both of its providers share it);
// later changes are ignored. Kept per build (module), since a page may run both.
type WasmState = { threads: number; reason: string; started: boolean };
const configured = new WeakMap<Ort, WasmState>();

function configureWasm(ort: Ort, o: WasmOptions): WasmState {
  const known = configured.get(ort);
  if (known) return known;
  const threads = wasmThreads(o.threads);
  ort.env.wasm.numThreads = threads;
  if (o.wasmPaths) ort.env.wasm.wasmPaths = o.wasmPaths as typeof ort.env.wasm.wasmPaths;
  const state = { threads, reason: threadsWhy(o.threads, threads), started: false };
  configured.set(ort, state);
  return state;
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

/** The ORT build a device needs: ORT's wasm build unless WebGPU will be tried (see openSession). */
export function ortBuildFor(device: WebDevice, probe?: WebGpuProbe): OrtBuild {
  if (device === 'wasm') return 'wasm';
  if (device === 'webgpu') return 'webgpu';
  return probe && (!('adapter' in probe) || probe.fallback) ? 'wasm' : 'webgpu';
}

/** Opens `bytes` (from `where`, named in errors) on a device, with the ORT build for it (ortFor). */
export async function openSession(
  bytes: Uint8Array, device: WebDevice, o: WasmOptions & OrtOptions & { gpuLatents?: boolean } = {}, where = 'model',
  /** The adapter probe already made for this load (chooseDtype's), so the adapter is requested once. */
  probed?: WebGpuProbe,
): Promise<OpenedSession> {
  if (!WEB_DEVICES.includes(device)) throw new Error(`unknown device '${device}': expected one of ${WEB_DEVICES.join(', ')}`);
  // The first session of a build starts its WASM module and threads: watched, so threads that cannot start fail the
  // load (a ThreadStartError) instead of leaving it waiting forever.
  const create = async (ort: Ort, ep: 'webgpu' | 'wasm', build: OrtBuild) => {
    const wasm = configureWasm(ort, o);
    if (wasm.started || wasm.threads === 1) return createOn(ort, ep);
    const session = await watchThreadStart(() => createOn(ort, ep), wasm.threads, o.threadStartTimeoutMs, build);
    wasm.started = true;
    return session;
  };
  const createOn = (ort: Ort, ep: 'webgpu' | 'wasm') =>
    ort.InferenceSession.create(bytes, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
      // On WebGPU the velocity stays in a GPU buffer for the GPU-side update (gpu-sampler.ts); getData() reads it back
      // where the CPU loop needs it.
      ...(ep === 'webgpu' && o.gpuLatents !== false ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
  const threadsOf = (ort: Ort) => {
    const { threads, reason } = configureWasm(ort, o);
    const coiNote = typeof crossOriginIsolated === 'undefined' || isolated() ? '' : ', page not cross-origin isolated';
    return { threads, threadsReason: reason, note: `${threads} thread${threads === 1 ? '' : 's'}${coiNote}` };
  };
  // WASM is the fallback that always exists: its failure is the model's, said with the URL and a cleaned message.
  const onWasm = async (reason: (wasmNote: string) => string): Promise<OpenedSession> => {
    const { ort, note } = await ortFor('wasm', o);
    const t = threadsOf(ort);
    const session = await create(ort, 'wasm', 'wasm').catch((e) => {
      if (e instanceof ThreadStartError) throw e;
      throw engineError(where, 'open the model', e);
    });
    return { session, ort, device: 'wasm', reason: reason(t.note) + (note ? `; ${note}` : ''), threads: t.threads, threadsReason: t.threadsReason };
  };
  if (device === 'wasm') return onWasm((n) => `requested, ${n}`);
  const probe = probed ?? (await probeWebGpu());
  let why = '';
  if ('adapter' in probe && probe.fallback && device === 'auto') {
    // A software adapter runs WebGPU on the CPU, measured ~0.4 GFLOP/s against wasm's ~25: far slower than wasm.
    return onWasm((n) => `WebGPU not used: adapter ${probe.description} is a software fallback, many times slower than wasm — running on wasm (${n})`);
  }
  if ('adapter' in probe) {
    let ort: Ort | undefined;
    try {
      ({ ort } = await ortFor('webgpu', o));
    } catch (e) {
      why = `ORT's WebGPU build could not be loaded (${firstLine(e)})`;
    }
    if (ort) {
      try {
        // Hand ORT the adapter we probed, unless its WebGPU backend already holds one.
        if (!ort.env.webgpu.adapter) ort.env.webgpu.adapter = probe.adapter;
      } catch {
        /* ORT's WebGPU backend is already initialized: it keeps its own adapter */
      }
      try {
        const session = await create(ort, 'webgpu', 'webgpu');
        const soft = probe.fallback ? ' (a software fallback, slower than wasm)' : '';
        const t = threadsOf(ort);
        return { session, ort, device: 'webgpu', reason: `${device === 'auto' ? 'auto: ' : 'requested: '}WebGPU adapter ${probe.description}${soft}`, threads: t.threads, threadsReason: t.threadsReason };
      } catch (e) {
        if (e instanceof ThreadStartError) throw e;
        why = `session failed (${firstLine(e)})`;
      }
    }
  } else why = probe.why;
  if (device === 'webgpu') throw new Error(`device 'webgpu' is not available: ${why}`);
  return onWasm((n) => `WebGPU unavailable: ${why} — running on wasm (${n})`);
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
