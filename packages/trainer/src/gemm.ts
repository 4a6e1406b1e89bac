// Batched float32 matrix multiply on our own WebAssembly SIMD kernel (gemm.wat). The kernel wants M % 4 == 0 and
// N % 8 == 0; this wrapper pads by laying A and B out in the module's memory with rounded-up strides and copies only
// the valid part of C back, so callers pass any shapes.
import { GEMM_WASM_BASE64 } from './gemm-binary.js';

type GemmFn = (a: number, b: number, c: number, m: number, k: number, n: number) => void;

const PAGE = 65536;
const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

export class WasmGemm {
  private readonly memory: WebAssembly.Memory;
  private readonly gemm: GemmFn;

  constructor() {
    const bytes = Uint8Array.from(atob(GEMM_WASM_BASE64), (c) => c.charCodeAt(0));
    // Synchronous compile: the module is under a kilobyte, and TF.js kernels are synchronous.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.gemm = instance.exports.gemm as GemmFn;
  }

  /**
   * out[i] = a[batchA > 1 ? i : 0] · b[batchB > 1 ? i : 0] for i < max(batchA, batchB); all row-major,
   * a [batchA, m, k], b [batchB, k, n], out [max(batchA, batchB), m, n].
   */
  batchMatMul(a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number, out: Float32Array): void {
    const batch = Math.max(batchA, batchB);
    if (batchA !== batch && batchA !== 1) throw new Error(`batchMatMul: batch sizes ${batchA} and ${batchB} do not broadcast`);
    if (batchB !== batch && batchB !== 1) throw new Error(`batchMatMul: batch sizes ${batchA} and ${batchB} do not broadcast`);
    if (a.length !== batchA * m * k || b.length !== batchB * k * n || out.length !== batch * m * n) {
      throw new Error(`batchMatMul: buffer sizes do not match [${batchA},${m},${k}] x [${batchB},${k},${n}]`);
    }
    if (k === 0 || m === 0 || n === 0) {
      out.fill(0);
      return;
    }
    const mp = roundUp(m, 4);
    const np = roundUp(n, 8);
    // Layout in floats: A (batchA x mp x k) | B (batchB x k x np) | C (one mp x np block, reused per batch entry).
    const aSize = mp * k;
    const bSize = k * np;
    const offA = 0;
    const offB = offA + batchA * aSize;
    const offC = offB + batchB * bSize;
    const need = (offC + mp * np) * 4;
    if (need > this.memory.buffer.byteLength) this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / PAGE));
    const heap = new Float32Array(this.memory.buffer);

    // A's rows are k long either way: padding rows only sit after each entry's m rows (their C rows are dropped).
    if (mp === m) heap.set(a, offA);
    else for (let i = 0; i < batchA; i++) heap.set(a.subarray(i * m * k, (i + 1) * m * k), offA + i * aSize);
    // B's padded columns only feed C's padded columns, which are dropped, so neither needs zeroing.
    if (np === n) heap.set(b, offB);
    else {
      for (let i = 0; i < batchB * k; i++) heap.set(b.subarray(i * n, (i + 1) * n), offB + i * np);
    }
    for (let i = 0; i < batch; i++) {
      const pa = offA + (batchA === 1 ? 0 : i) * aSize;
      const pb = offB + (batchB === 1 ? 0 : i) * bSize;
      this.gemm(pa * 4, pb * 4, offC * 4, mp, k, np);
      const c = heap.subarray(offC, offC + mp * np);
      if (np === n) out.set(c.subarray(0, m * n), i * m * n);
      else for (let r = 0; r < m; r++) out.set(c.subarray(r * np, r * np + n), (i * m + r) * n);
    }
  }
}
