// The sampler core: Euler and Heun against closed-form solutions, seeded noise, progress, cancellation, image output.
import { describe, expect, it } from 'vitest';
import {
  engineMessage, imageGrid, initialNoise, NonFiniteOutputError, reviveError, sample, SamplingAbortedError, timeGrid, toImages, type VelocityFn,
} from '@liquidflow/core';

// dx/dt = a x (a toy linear velocity field): integrating from t = 1 to t = 0 gives x(0) = x(1) exp(-a).
const A = 1.3;
const linear: VelocityFn = async (x) => x.map((v) => A * v);
const opts = { count: 2, channels: 3, size: 4, seed: 11 };

async function errorAt(steps: number, sampler: 'euler' | 'heun'): Promise<number> {
  const x1 = initialNoise(opts.seed, 2 * 3 * 4 * 4);
  const x0 = await sample(linear, { ...opts, steps, sampler });
  let m = 0;
  for (let i = 0; i < x0.length; i++) m = Math.max(m, Math.abs(x0[i] - x1[i] * Math.exp(-A)));
  return m;
}

describe('sample', () => {
  it('converges at first order for Euler and second order for Heun on a linear field', async () => {
    const euler = [await errorAt(20, 'euler'), await errorAt(40, 'euler')];
    const heun = [await errorAt(20, 'heun'), await errorAt(40, 'heun')];
    expect(euler[0] / euler[1]).toBeGreaterThan(1.8);
    expect(euler[0] / euler[1]).toBeLessThan(2.2);
    expect(heun[0] / heun[1]).toBeGreaterThan(3.6);
    expect(heun[0] / heun[1]).toBeLessThan(4.4);
    expect(heun[1]).toBeLessThan(1e-3);
  });

  it('integrates from t = 1 down to t = 0', async () => {
    expect(timeGrid(4)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    const seen: number[] = [];
    await sample(async (x, t) => (seen.push(t[0]), new Float32Array(x.length)), { ...opts, steps: 4 });
    expect(seen).toEqual([1, 0.75, 0.5, 0.25]);
  });

  it('is deterministic in the seed and differs across seeds', async () => {
    const a = await sample(linear, { ...opts, steps: 3 });
    const b = await sample(linear, { ...opts, steps: 3 });
    const c = await sample(linear, { ...opts, steps: 3, seed: 12 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('reports progress per step with an optional x0 preview', async () => {
    const events: { step: number; total: number; preview?: Float32Array }[] = [];
    await sample(linear, { ...opts, steps: 5, sampler: 'heun', preview: true, onProgress: (p) => events.push(p) });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(events.every((e) => e.total === 5 && e.preview?.length === 2 * 3 * 16)).toBe(true);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    let calls = 0;
    const velocity: VelocityFn = async (x) => {
      if (++calls === 2) controller.abort();
      return new Float32Array(x.length);
    };
    await expect(sample(velocity, { ...opts, steps: 10, signal: controller.signal })).rejects.toBeInstanceOf(SamplingAbortedError);
    expect(calls).toBe(2);
  });

  it('rejects bad options with the option named', async () => {
    await expect(sample(linear, { ...opts, steps: 0 })).rejects.toThrow(/steps/);
    await expect(sample(linear, { ...opts, count: 0 })).rejects.toThrow(/count/);
    await expect(sample(linear, { ...opts, sampler: 'rk4' as 'euler' })).rejects.toThrow(/sampler/);
  });
});

describe('non-finite output', () => {
  it('a velocity with NaN in one image fails naming the model, the counts and that image', async () => {
    const per = 3 * 4 * 4;
    const nanInSecond: VelocityFn = async (x) => x.map((v, i) => (i >= per && i < per + 5 ? NaN : v));
    const e = await sample(nanInSecond, { ...opts, steps: 2, model: 'm.onnx' }).catch((err: Error) => err);
    expect(e).toBeInstanceOf(NonFiniteOutputError);
    expect((e as Error).message).toMatch(/^m\.onnx: the model produced 5 NaN and 0 infinite values \(in image 2 of 2\), which would be black images/);
  });

  it('infinities are counted as such, and finite output passes untouched', async () => {
    const inf: VelocityFn = async (x) => x.map(() => Infinity);
    await expect(sample(inf, { ...opts, steps: 3 })).rejects.toThrow(`model: the model produced 0 NaN and ${2 * 3 * 4 * 4} infinite values (in images 1, 2 of 2)`);
    const x = await sample(linear, { ...opts, steps: 2 });
    expect(x.every(Number.isFinite)).toBe(true);
  });

  it('errors that crossed a worker come back as their class', () => {
    expect(reviveError('NonFiniteOutputError', 'm: NaN')).toBeInstanceOf(NonFiniteOutputError);
    expect(reviveError('NonFiniteOutputError', 'm: NaN').message).toBe('m: NaN');
    expect(reviveError('TypeError', 'x').constructor).toBe(Error);
    expect(reviveError(undefined, 'x').message).toBe('x');
  });
});

describe('engineMessage', () => {
  it("keeps onnxruntime's own sentence and drops its C++ source locations and status prefix", () => {
    const cases: [string, string][] = [
      [
        'Non-zero status code returned while running Mul node. Name:\'blocks.0/Mul_38\' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:583 void onnxruntime::BroadcastIterator::Append(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 2 by 3\n',
        "Non-zero status code returned while running Mul node. Name:'blocks.0/Mul_38' Status Message: axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 2 by 3",
      ],
      [
        'External data path validation failed for initializer: w. Error: External data path for model loaded from bytes escapes working directory. tensorprotoutils.cc:461 ValidateExternalDataPathFromDir External data path does not exist: "/x/w.bin"',
        'External data path validation failed for initializer: w. Error: External data path for model loaded from bytes escapes working directory. External data path does not exist: "/x/w.bin"',
      ],
      ['[ONNXRuntimeError] : 10 : INVALID_GRAPH : This is an invalid model.\nmore', 'This is an invalid model.'],
    ];
    for (const [raw, want] of cases) expect(engineMessage(new Error(raw))).toBe(want);
  });
});

describe('toImages and imageGrid', () => {
  it('maps [-1, 1] to [0, 1] floats and 0..255 bytes, clamping outside', () => {
    const x = Float32Array.from([-1, 0, 1, 2, -3, 0.5, 0, 0, 0, 0, 0, 0]); // 1 image, 3 channels, 2x2
    const [img] = toImages(x, 1, 3, 2);
    expect(img.rgb[0]).toBe(0); // pixel 0, R = -1
    expect(img.rgb[3]).toBe(0.5); // pixel 1, R = 0
    expect(img.rgb[9]).toBe(1); // pixel 3, R = 2 clamped
    expect(Array.from(img.data.subarray(0, 4))).toEqual([0, 0, 128, 255]); // pixel 0: R -1, G -3 (clamped), B 0, opaque
  });

  it('tiles images into a grid with padding', () => {
    const img = { width: 2, height: 2, data: new Uint8ClampedArray(16).fill(7) };
    const g = imageGrid([img, img, img], 2, 1);
    expect([g.width, g.height]).toEqual([7, 7]);
    expect(g.data[(1 * 7 + 1) * 4]).toBe(7);
    expect(g.data[0]).toBe(255);
  });
});
