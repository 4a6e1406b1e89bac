// TF.js's wasm BatchMatMul is the training bottleneck: measured at 0.5-3 GFLOP/s on the model's shapes (and slower
// still with transposeA/transposeB, which every backprop matmul uses), where a plain 4x8 SIMD tile reaches ~25 GFLOP/s
// on one core. installFastWasmMatMul re-registers the wasm backend's BatchMatMul to run our kernel (gemm.wat via
// gemm.ts); transposed operands are transposed first by the backend's own Transpose kernel.
import * as tf from '@tensorflow/tfjs';
import { WasmGemm } from './gemm.js';

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs: Record<string, unknown> };

/** The parts of tfjs-backend-wasm's BackendWasm this kernel uses (its tensors live in the module's heap). */
interface WasmBackend {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  disposeData(dataId: object): void;
}

let original: tf.KernelConfig | undefined;

/** Swaps the last two axes. */
const lastTwoSwapped = (rank: number) => [...Array(rank).keys()].map((i) => (i < rank - 2 ? i : i === rank - 2 ? rank - 1 : rank - 2));

/** Registers the SIMD GEMM as the wasm backend's BatchMatMul; false if it already is or the backend is absent. */
export function installFastWasmMatMul(): boolean {
  if (original) return false;
  const stock = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!stock || !transpose) return false;
  const runTranspose = transpose.kernelFunc as unknown as (a: KernelArgs) => tf.TensorInfo;
  const gemm = new WasmGemm();
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    ...stock,
    kernelFunc: ((args: KernelArgs) => {
      const backend = args.backend as WasmBackend;
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const flip = (x: tf.TensorInfo) => runTranspose({ inputs: { x }, backend, attrs: { perm: lastTwoSwapped(x.shape.length) } });
      const a = transposeA ? flip(args.inputs.a) : args.inputs.a;
      const b = transposeB ? flip(args.inputs.b) : args.inputs.b;
      try {
        if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`BatchMatMul: float32 only, got ${a.dtype} x ${b.dtype}`);
        const [m, k] = a.shape.slice(-2);
        const [k2, n] = b.shape.slice(-2);
        if (k !== k2) throw new Error(`BatchMatMul: inner sizes differ, [${a.shape}] x [${b.shape}]`);
        const outerA = a.shape.slice(0, -2);
        const outerB = b.shape.slice(0, -2);
        const batchA = outerA.reduce((p, d) => p * d, 1);
        const batchB = outerB.reduce((p, d) => p * d, 1);
        const outer = batchA >= batchB ? outerA : outerB;
        const out = backend.makeOutput([...outer, m, n], 'float32');
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
    }) as unknown as tf.KernelFunc,
  });
  original = stock;
  return true;
}

/** Puts TF.js's own wasm BatchMatMul back (benchmarks compare the two). */
export function uninstallFastWasmMatMul(): boolean {
  if (!original) return false;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(original);
  original = undefined;
  return true;
}
