// Kernel overrides for TF.js's wasm backend, where its own kernels cost a training step most (profiled with
// tf.profile on a tiny 32 px batch-16 step): BatchMatMul on our SIMD GEMM (wasm-matmul.ts); GatherV2 along one axis
// as row copies (the stock kernel indexes element by element, ~5 ms per zigzag permutation); Identity and same-dtype
// Cast sharing the input's memory as the cpu backend does, instead of copying (TF.js clones every tensor a gradient
// saves: ~2,300 copies a step). Tensors are immutable and the backend reference-counts data, so sharing is safe.
import * as tf from '@tensorflow/tfjs';
import { sizeOf } from '@liquidflow/core';
import { WasmGemm } from './gemm.js';
import { gemmBatchMatMul } from './wasm-matmul.js';

export type WasmKernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };
type Kernel = (args: WasmKernelArgs) => tf.TensorInfo;

/** The parts of tfjs-backend-wasm's BackendWasm the overrides use (its tensors live in the module's heap). */
export interface WasmBackend {
  wasm: { HEAPF32: Float32Array; HEAP32: Int32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  disposeData(dataId: object): void;
  incRef(dataId: object): void;
}

const share = (x: tf.TensorInfo, backend: WasmBackend, dtype = x.dtype): tf.TensorInfo => {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype };
};

function gatherRows(stock: Kernel): Kernel {
  return (args) => {
    const { x, indices } = args.inputs;
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    if (batchDims !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') return stock(args);
    const backend = args.backend;
    const ax = axis < 0 ? axis + x.shape.length : axis;
    const outer = sizeOf(x.shape.slice(0, ax));
    const dim = x.shape[ax];
    const inner = sizeOf(x.shape.slice(ax + 1));
    const count = sizeOf(indices.shape);
    const out = backend.makeOutput([...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)], x.dtype);
    // Both dtypes are 4 bytes: copy as int32 words. Views after makeOutput, which may grow the heap.
    const heap = backend.wasm.HEAP32;
    const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset / 4;
    const [xs, is, os] = [at(x), at(indices), at(out)];
    for (let i = 0; i < count; i++) {
      const index = heap[is + i];
      if (!(index >= 0 && index < dim)) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${index} is not in [0, ${dim - 1}]`);
      }
    }
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < count; i++) {
        const src = xs + (o * dim + heap[is + i]) * inner;
        heap.copyWithin(os + (o * count + i) * inner, src, src + inner);
      }
    }
    return out;
  };
}

const OVERRIDES: Record<string, (stock: Kernel, gemm: WasmGemm) => Kernel> = {
  BatchMatMul: (_, gemm) => gemmBatchMatMul(gemm, tf.getKernel('Transpose', 'wasm')!.kernelFunc as unknown as Kernel),
  GatherV2: gatherRows,
  Identity: (stock) => (args) => (args.inputs.x.dtype === 'string' ? stock(args) : share(args.inputs.x, args.backend)),
  Cast: (stock) => (args) => (args.attrs.dtype === args.inputs.x.dtype ? share(args.inputs.x, args.backend) : stock(args)),
};

const originals = new Map<string, tf.KernelConfig>();
let installedGemm: WasmGemm | undefined;

export interface WasmKernelOptions {
  /** Threads a large matmul is split across (this one included); default 1. */
  threads?: number;
}

/** Registers the overrides on the wasm backend; false if they already are or the wasm backend is not loaded. */
export function installWasmKernels(options: WasmKernelOptions = {}): boolean {
  if (originals.size > 0) return false;
  if (!tf.getKernel('BatchMatMul', 'wasm') || !tf.getKernel('Transpose', 'wasm')) return false;
  const gemm = (installedGemm = new WasmGemm(options.threads ?? 1));
  for (const [name, make] of Object.entries(OVERRIDES)) {
    const stock = tf.getKernel(name, 'wasm');
    if (!stock) throw new Error(`tfjs-backend-wasm has no ${name} kernel to override`);
    const kernelFunc = make(stock.kernelFunc as unknown as Kernel, gemm);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...stock, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    originals.set(name, stock);
  }
  return true;
}

/** Puts TF.js's own wasm kernels back (benchmarks and tests compare the two). */
export function uninstallWasmKernels(): boolean {
  if (originals.size === 0) return false;
  for (const [name, stock] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(stock);
  }
  originals.clear();
  void installedGemm?.dispose(); // its workers are unref'd: nothing waits on this
  installedGemm = undefined;
  return true;
}
