// LiquidFlow's kernel overrides for TF.js's wasm backend (wasm-kernels.ts): the SIMD GEMM's committed binary is
// gemm.wat compiled and it multiplies any shapes (padding, broadcast batches, transposes) to float32 accuracy; gathers,
// identities and casts give what TF.js's own kernels give; a model's loss and gradients match the stock kernels; nothing
// leaks; uninstalling restores TF.js's kernels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { TfModel } from '@liquidflow/tfjs';
import { WasmGemm, flowMatchingLoss, installWasmKernels, uninstallWasmKernels } from '@liquidflow/trainer';
import { GEMM_WASM_BASE64 } from '../src/gemm-binary.js';
// @ts-expect-error plain .mjs build script without types
import { compileGemm } from '../../../scripts/build-gemm.mjs';

const rng = new Rng(7, 0x6e);
const normal = (n: number) => rng.fillNormal(new Float32Array(n));

/** float64 reference with the same broadcasting rule. */
function reference(a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number) {
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = (batchA === 1 ? 0 : z) * m * k;
    const bo = (batchB === 1 ? 0 : z) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + i * k + p] * b[bo + p * n + j];
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>) {
  let err = 0;
  let scale = 1e-6;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

describe('gemm.wat', () => {
  it('the committed binary is gemm.wat compiled (run node scripts/build-gemm.mjs after editing the .wat)', async () => {
    const compiled: Buffer = await compileGemm();
    expect(compiled.toString('base64')).toBe(GEMM_WASM_BASE64);
  });
});

describe.each([1, 3])('WasmGemm on %i thread(s)', (threads) => {
  const gemm = new WasmGemm(threads);
  afterAll(() => gemm.dispose());
  const cases: [number, number, number, number, number][] = [
    // batchA, batchB, m, k, n
    [1, 1, 4, 8, 8], // exact tile
    [1, 1, 1, 1, 1],
    [1, 1, 5, 3, 9], // padding in m and n
    [1, 1, 64, 160, 677], // the model's in_proj width (not a multiple of 8); row tiles split across threads
    [3, 3, 7, 5, 13],
    [6, 1, 16, 8, 64], // b broadcast over the batch; too small to split across threads
    [1, 4, 9, 16, 10], // a broadcast
    [40, 40, 64, 64, 64], // batch entries split across threads
    [5, 1, 30, 70, 90], // thread shares cross batch-entry boundaries
    [1, 1, 4, 1024, 300], // one row tile: fewer units than threads
  ];
  it.each(cases)('batch %i x %i, [%i,%i] x [.,%i] matches float64, and repeated jobs agree', (batchA, batchB, m, k, n) => {
    const a = normal(batchA * m * k);
    const b = normal(batchB * k * n);
    const out = new Float32Array(Math.max(batchA, batchB) * m * n).fill(NaN);
    gemm.batchMatMul(a, b, batchA, batchB, m, k, n, out);
    expect(maxRelErr(out, reference(a, b, batchA, batchB, m, k, n))).toBeLessThan(1e-5);
    const again = new Float32Array(out.length);
    for (let i = 0; i < 2; i++) gemm.batchMatMul(a, b, batchA, batchB, m, k, n, again);
    expect(again).toEqual(out); // each unit is computed by exactly one thread, the same way every time
  });

  it('grows its memory for large operands and stays correct after', () => {
    const [m, k, n] = [300, 700, 260]; // ~1.8 MB of operands, beyond the initial 64 KiB page
    const a = normal(m * k);
    const b = normal(k * n);
    const out = new Float32Array(m * n);
    gemm.batchMatMul(a, b, 1, 1, m, k, n, out);
    expect(maxRelErr(out, reference(a, b, 1, 1, m, k, n))).toBeLessThan(1e-5);
  });

  it('k = 0 gives zeros; mismatched sizes and batches are refused', () => {
    const out = new Float32Array(6).fill(5);
    gemm.batchMatMul(new Float32Array(0), new Float32Array(0), 1, 1, 2, 0, 3, out);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => gemm.batchMatMul(new Float32Array(5), new Float32Array(6), 1, 1, 2, 3, 2, new Float32Array(4))).toThrow(/buffer sizes/);
    expect(() => gemm.batchMatMul(new Float32Array(12), new Float32Array(18), 2, 3, 2, 3, 2, new Float32Array(12))).toThrow(/broadcast/);
  });
});

it('WasmGemm refuses a thread count that is not a positive integer', () => {
  expect(() => new WasmGemm(0)).toThrow(/threads must be a positive integer/);
  expect(() => new WasmGemm(1.5)).toThrow(/threads must be a positive integer/);
});

describe('installWasmKernels', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    expect(installWasmKernels()).toBe(true);
  });
  afterAll(() => {
    uninstallWasmKernels();
  });

  /** Runs f on the cpu backend and on wasm (our kernel) with the same inputs. */
  async function both(f: (inputs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], shapes: number[][]) {
    const data = shapes.map((s) => normal(s.reduce((p, d) => p * d, 1)));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const outs = tf.tidy(() => {
        const r = f(data.map((d, i) => tf.tensor(d, shapes[i])));
        return Array.isArray(r) ? r : [r];
      });
      const values = outs.map((o) => o.dataSync().slice());
      tf.dispose(outs);
      return values;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    return { cpu, wasm };
  }

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transposeA=%s transposeB=%s on batched, broadcast shapes equals the cpu backend', async (ta, tb) => {
    const [m, k, n] = [6, 11, 9];
    const aShape = ta ? [2, 3, k, m] : [2, 3, m, k];
    const bShape = tb ? [n, k] : [k, n];
    const { cpu, wasm } = await both(([a, b]) => tf.matMul(a, b, ta, tb), [aShape, bShape]);
    expect(maxRelErr(wasm[0], cpu[0])).toBeLessThan(1e-5);
  });

  // (TF.js's matMul gradient does not reduce broadcast batch axes on any backend, so these shapes do not broadcast.)
  it.each([
    [[10, 7], [7, 12]],
    [[4, 10, 7], [4, 7, 12]],
  ])('gradients through matMul %j x %j (transposed backprop products) equal the cpu backend', async (aShape, bShape) => {
    const { cpu, wasm } = await both(([a, b]) => {
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y))));
      return g([a, b]);
    }, [aShape, bShape]);
    for (let i = 0; i < 2; i++) expect(maxRelErr(wasm[i], cpu[i])).toBeLessThan(1e-5);
  });

  it('leaks no tensors or wasm memory for transposed operands', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor(normal(5 * 8), [8, 5]);
    const b = tf.tensor(normal(8 * 3), [3, 8]);
    tf.matMul(a, b, true, true).dispose();
    const before = tf.memory();
    for (let i = 0; i < 5; i++) tf.matMul(a, b, true, true).dispose();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect((after as { numDataBuffers?: number }).numDataBuffers).toBe((before as { numDataBuffers?: number }).numDataBuffers);
    tf.dispose([a, b]);
  });

  it.each([
    [[4, 6, 5], 1, [3, 0, 5, 5, 1]], // the zigzag case: a token axis, repeated indices
    [[4, 6, 5], 0, [2, 2, 0]],
    [[4, 6, 5], 2, [4, 0]],
    [[7, 3], -1, [2, 1, 0]],
  ] as [number[], number, number[]][])('GatherV2 of [%j] on axis %i equals the cpu backend', async (shape, axis, idx) => {
    const { cpu, wasm } = await both(([x]) => tf.gather(x, tf.tensor1d(idx, 'int32'), axis), [shape]);
    expect([...wasm[0]]).toEqual([...cpu[0]]);
  });

  it('GatherV2 with 2-D indices and int32 values, and an out-of-range index is an error', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32');
    const g = tf.gather(x, tf.tensor2d([[2, 0], [1, 1]], [2, 2], 'int32'));
    expect(g.shape).toEqual([2, 2, 2]);
    expect([...g.dataSync()]).toEqual([5, 6, 1, 2, 3, 4, 3, 4]);
    expect(() => tf.gather(x, tf.tensor1d([0, 3], 'int32'))).toThrow(/index value 3 is not in \[0, 2\]/);
    tf.dispose([x, g]);
  });

  it('Identity and same-dtype Cast share memory safely: the copy outlives the original; other casts convert', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1.5, -2.25, 3]);
    const c = tf.clone(x);
    const f = tf.cast(x, 'float32');
    x.dispose();
    expect([...c.dataSync()]).toEqual([1.5, -2.25, 3]);
    expect([...f.dataSync()]).toEqual([1.5, -2.25, 3]);
    const i = tf.cast(c, 'int32');
    expect(i.dtype).toBe('int32');
    expect([...i.dataSync()]).toEqual([1, -2, 3]);
    tf.dispose([c, f, i]);
  });

  it('a small model\'s loss and gradients equal those with TF.js\'s own kernels, and a step leaks nothing', async () => {
    await tf.setBackend('wasm');
    const config = resolveConfig('tiny', { img_size: 16, dim: 32, head_dim: 16, time_freq_dim: 32 });
    const model = new TfModel(config, freshCheckpoint(config, 3).weights);
    const [b, s] = [2, config.img_size];
    const x0 = tf.tensor(normal(b * 3 * s * s), [b, 3, s, s]);
    const noise = tf.tensor(normal(b * 3 * s * s), [b, 3, s, s]);
    const t = tf.tensor1d([0.3, 0.8]);
    const vars = [...model.variables.values()];
    let first = true;
    const lossAndGrads = () => {
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => flowMatchingLoss(model, x0, noise, t, { smooth: 1e-3, tv: 1e-3 }).total, vars);
      const out = [value.dataSync()[0], ...vars.map((v) => grads[v.name].dataSync().slice())] as const;
      tf.dispose([value, ...Object.values(grads)]);
      if (!first) expect(tf.memory().numTensors).toBe(before);
      first = false;
      return out;
    };
    lossAndGrads(); // the first forward creates the model's kept constants (zigzag indices, masks)
    const [lossOurs, ...gradsOurs] = lossAndGrads();
    uninstallWasmKernels();
    const [lossStock, ...gradsStock] = lossAndGrads();
    installWasmKernels();
    expect(Math.abs(lossOurs - lossStock) / lossStock).toBeLessThan(1e-5);
    for (let i = 0; i < gradsOurs.length; i++) expect(maxRelErr(gradsOurs[i], gradsStock[i])).toBeLessThan(1e-3);
    model.dispose();
    tf.dispose([x0, noise, t]);
  });

  it('uninstall restores TF.js\'s own kernels, and install is idempotent', () => {
    const ours = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
    const ourGather = tf.getKernel('GatherV2', 'wasm')?.kernelFunc;
    expect(installWasmKernels()).toBe(false);
    expect(uninstallWasmKernels()).toBe(true);
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc).not.toBe(ours);
    expect(tf.getKernel('GatherV2', 'wasm')?.kernelFunc).not.toBe(ourGather);
    expect(uninstallWasmKernels()).toBe(false);
    expect(installWasmKernels()).toBe(true);
  });
});
