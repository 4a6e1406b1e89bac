// Batched float32 matrix multiply on our own WebAssembly SIMD kernel (gemm.wat), on one or more threads. The kernel
// wants M % 4 == 0 and N % 8 == 0; this wrapper pads by laying A and B out in the module's memory with rounded-up
// strides and copies only the valid part of C back, so callers pass any shapes. With threads > 1, worker threads share
// the module's memory and each runs a contiguous share of the product's 4-row tiles (gemm_units); this thread runs
// the first share and then waits for the others (TF.js kernels are synchronous, so it blocks in Atomics.wait).
import { Worker } from 'node:worker_threads';
import { GEMM_WASM_BASE64 } from './gemm-binary.js';

type GemmUnits = (
  a: number, b: number, c: number, m: number, k: number, n: number,
  sa: number, sb: number, sc: number, u0: number, u1: number,
) => void;

const PAGE = 65536;
const MAX_PAGES = 32768; // as declared in gemm.wat
const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;
/** Below this many multiply-adds a product runs on this thread alone: waking the workers costs more. */
const MIN_PARALLEL_MACS = 1 << 20;

// Every wait re-checks its condition at least this often. A training run once hung after ~200k jobs with this thread
// and its worker both asleep in Atomics.wait, each waiting for the other (a notify was lost); with the re-check, a
// lost notify costs a few milliseconds instead of the run. Idle workers wake this often and go back to sleep.
const RECHECK_MS = 5;

// Control block shared with the workers (Int32 slots).
const GENERATION = 0; // bumped for each job; -1 tells the workers to exit
const PENDING = 1; // workers still running their share
const JOB = 2; // a, b, c, m, k, n, sa, sb, sc, units, shares
const FAILED = 13; // a worker's share threw: its message is in the error buffer
const ERROR_BYTES = 1024;

// Runs in each worker: wait for a job, run this worker's share of the units, count down, repeat.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, errorText, share } = workerData;
const run = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm_units;
const ctl = new Int32Array(control);
const fail = (e) => {
  // Report instead of dying: the main thread is blocked until every worker counts down.
  if (Atomics.compareExchange(ctl, ${FAILED}, 0, 1) === 0) {
    new Uint8Array(errorText).set(new TextEncoder().encode(String((e && e.stack) || e)).subarray(0, ${ERROR_BYTES}));
  }
};
let seen = 0;
for (;;) {
  while (Atomics.load(ctl, ${GENERATION}) === seen) Atomics.wait(ctl, ${GENERATION}, seen, ${RECHECK_MS});
  seen = Atomics.load(ctl, ${GENERATION});
  if (seen === -1) break;
  const [a, b, c, m, k, n, sa, sb, sc, units, shares] = ctl.subarray(${JOB}, ${JOB + 11});
  try {
    if (share < shares) {
      const u0 = Math.floor((units * share) / shares), u1 = Math.floor((units * (share + 1)) / shares);
      if (u1 > u0) run(a, b, c, m, k, n, sa, sb, sc, u0, u1);
    }
  } catch (e) {
    fail(e);
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}`;

export class WasmGemm {
  readonly threads: number;
  private readonly memory: WebAssembly.Memory;
  private readonly run: GemmUnits;
  private readonly control = new Int32Array(new SharedArrayBuffer(16 * 4));
  private readonly errorText = new SharedArrayBuffer(ERROR_BYTES);
  private readonly workers: Worker[] = [];

  /** threads: how many threads share a large product (this one included); 1 runs everything here. */
  constructor(threads = 1) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`WasmGemm: threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    const bytes = Uint8Array.from(atob(GEMM_WASM_BASE64), (c) => c.charCodeAt(0));
    // Synchronous compile: the module is under a kilobyte, and TF.js kernels are synchronous.
    const module = new WebAssembly.Module(bytes);
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.run = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports.gemm_units as GemmUnits;
    for (let share = 1; share < threads; share++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory: this.memory, control: this.control.buffer, errorText: this.errorText, share } });
      worker.unref(); // idle workers never keep the process alive
      this.workers.push(worker);
    }
  }

  /**
   * out[i] = a[batchA > 1 ? i : 0] · b[batchB > 1 ? i : 0] for i < max(batchA, batchB); all row-major,
   * a [batchA, m, k], b [batchB, k, n], out [max(batchA, batchB), m, n].
   */
  batchMatMul(a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number, out: Float32Array): void {
    const batch = Math.max(batchA, batchB);
    if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
      throw new Error(`batchMatMul: batch sizes ${batchA} and ${batchB} do not broadcast`);
    }
    if (a.length !== batchA * m * k || b.length !== batchB * k * n || out.length !== batch * m * n) {
      throw new Error(`batchMatMul: buffer sizes do not match [${batchA},${m},${k}] x [${batchB},${k},${n}]`);
    }
    if (k === 0 || m === 0 || n === 0) {
      out.fill(0);
      return;
    }
    const mp = roundUp(m, 4);
    const np = roundUp(n, 8);
    // Layout in floats: A (batchA x mp x k) | B (batchB x k x np) | C (batch x mp x np).
    const aSize = mp * k;
    const bSize = k * np;
    const cSize = mp * np;
    const offB = batchA * aSize;
    const offC = offB + batchB * bSize;
    const need = (offC + batch * cSize) * 4;
    const have = this.memory.buffer.byteLength;
    if (need > MAX_PAGES * PAGE) throw new Error(`batchMatMul: [${batch},${m},${k}] x [${k},${n}] needs ${need} bytes, over the kernel's 2 GiB`);
    if (need > have) this.memory.grow(Math.ceil((need - have) / PAGE));
    const heap = new Float32Array(this.memory.buffer);

    // A's rows are k long either way: padding rows only sit after each entry's m rows (their C rows are dropped).
    if (mp === m) heap.set(a, 0);
    else for (let i = 0; i < batchA; i++) heap.set(a.subarray(i * m * k, (i + 1) * m * k), i * aSize);
    // B's padded columns only feed C's padded columns, which are dropped, so neither needs zeroing.
    if (np === n) heap.set(b, offB);
    else for (let i = 0; i < batchB * k; i++) heap.set(b.subarray(i * n, (i + 1) * n), offB + i * np);

    const job = [0, offB * 4, offC * 4, mp, k, np, batchA === 1 ? 0 : aSize * 4, batchB === 1 ? 0 : bSize * 4, cSize * 4, batch * (mp / 4)];
    this.runUnits(job, batch * mp * k * np);

    if (np === n && mp === m) out.set(heap.subarray(offC, offC + batch * cSize));
    else {
      for (let i = 0; i < batch; i++) {
        for (let r = 0; r < m; r++) out.set(heap.subarray(offC + i * cSize + r * np, offC + i * cSize + r * np + n), (i * m + r) * n);
      }
    }
  }

  /** Runs units [0, job.units) of a product, split across the threads when it is large enough. */
  private runUnits(job: number[], macs: number) {
    const units = job[9];
    const shares = macs < MIN_PARALLEL_MACS ? 1 : Math.min(this.threads, units);
    const [a, b, c, m, k, n, sa, sb, sc] = job;
    if (shares === 1) {
      this.run(a, b, c, m, k, n, sa, sb, sc, 0, units);
      return;
    }
    const ctl = this.control;
    ctl.set([...job, shares], JOB);
    // Every worker wakes for a job and counts down, including those without a share (fewer units than threads).
    Atomics.store(ctl, PENDING, this.workers.length);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    let ownError: unknown;
    try {
      this.run(a, b, c, m, k, n, sa, sb, sc, 0, Math.floor(units / shares));
    } catch (e) {
      ownError = e; // rethrown once the workers are done with the shared memory
    }
    for (let left = Atomics.load(ctl, PENDING); left !== 0; left = Atomics.load(ctl, PENDING)) Atomics.wait(ctl, PENDING, left, RECHECK_MS);
    if (Atomics.load(ctl, FAILED) !== 0) {
      const text = new TextDecoder().decode(new Uint8Array(this.errorText).slice()).replace(/\0+$/, '');
      throw new Error(`WasmGemm: a matmul worker thread failed: ${text}`);
    }
    if (ownError !== undefined) throw ownError;
  }

  /** Stops the worker threads (a no-op with one thread). */
  async dispose(): Promise<void> {
    Atomics.store(this.control, GENERATION, -1);
    Atomics.notify(this.control, GENERATION);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
