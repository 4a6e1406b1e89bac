// BatchMatMul for TF.js's wasm backend on our SIMD GEMM (gemm.wat via gemm.ts). The stock kernel reaches ~10 GFLOP/s
// on the model's untransposed shapes (XNNPACK) and drops to a naive loop, ~15x slower, with transposeA/transposeB,
// which every backprop matmul uses; the 4x8 SIMD tile reaches ~25 GFLOP/s on one core. Transposed operands are
// transposed first by the backend's own Transpose kernel. Installed by wasm-kernels.ts.
import * as tf from '@tensorflow/tfjs';
import { sizeOf } from '@liquidflow/core';
import type { WasmGemm } from './gemm.js';
import type { WasmKernelArgs } from './wasm-kernels.js';

/** Swaps the last two axes. */
const lastTwoSwapped = (rank: number) => [...Array(rank).keys()].map((i) => (i < rank - 2 ? i : i === rank - 2 ? rank - 1 : rank - 2));

/** The BatchMatMul kernel function; `transpose` is the backend's Transpose kernel. */
export function gemmBatchMatMul(gemm: WasmGemm, transpose: (a: WasmKernelArgs) => tf.TensorInfo) {
  return (args: WasmKernelArgs): tf.TensorInfo => {
    const backend = args.backend;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const flip = (x: tf.TensorInfo) => transpose({ inputs: { x }, backend, attrs: { perm: lastTwoSwapped(x.shape.length) } });
    const a = transposeA ? flip(args.inputs.a) : args.inputs.a;
    const b = transposeB ? flip(args.inputs.b) : args.inputs.b;
    try {
      if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`BatchMatMul: float32 only, got ${a.dtype} x ${b.dtype}`);
      const [m, k] = a.shape.slice(-2);
      const [k2, n] = b.shape.slice(-2);
      if (k !== k2) throw new Error(`BatchMatMul: inner sizes differ, [${a.shape}] x [${b.shape}]`);
      const outerA = a.shape.slice(0, -2);
      const outerB = b.shape.slice(0, -2);
      const batchA = sizeOf(outerA);
      const batchB = sizeOf(outerB);
      const out = backend.makeOutput([...(batchA >= batchB ? outerA : outerB), m, n], 'float32');
      // Views are taken after makeOutput: its allocation may grow the heap and replace HEAPF32.
      const heap = backend.wasm.HEAPF32;
      const view = (t: tf.TensorInfo, size: number) => {
        const start = backend.dataIdMap.get(t.dataId).memoryOffset / 4;
        return heap.subarray(start, start + size);
      };
      gemm.batchMatMul(view(a, batchA * m * k), view(b, batchB * k * n), batchA, batchB, m, k, n, view(out, Math.max(batchA, batchB) * m * n));
      return out;
    } finally {
      if (transposeA) backend.disposeData(a.dataId);
      if (transposeB) backend.disposeData(b.dataId);
    }
  };
}
