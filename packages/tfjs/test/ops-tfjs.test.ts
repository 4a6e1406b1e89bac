// TfOps's overrides of derived ops, held to the derived form in ops.ts (value and gradients) on the wasm backend, which
// also proves they need no kernel wasm lacks: the depthwise conv on TF.js's own kernel, with its gradient made of
// forward convs, against the sum of k*k shifted slices.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Ops, Rng, sizeOf } from '@liquidflow/core';
import { TfOps } from '@liquidflow/tfjs';

const random = (shape: number[], seed: number) => tf.tensor(new Rng(seed).fillNormal(new Float32Array(sizeOf(shape))), shape);

/** fn(x, w, b) and the gradients of sum(fn(x, w, b) * r) with respect to x, w and b. */
function valueAndGrads(fn: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) {
  return tf.tidy(() => {
    const { grads } = tf.valueAndGrads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fn(xs[0], xs[1], xs[2]), r)))([x, w, b]);
    return { y: fn(x, w, b).dataSync(), grads: grads.map((g) => g.dataSync()) };
  });
}

const maxRelErr = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  expect(scale, 'the reference is all zero: the case tests nothing').toBeGreaterThan(0);
  return err / scale;
};

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe('TfOps.depthwiseConv2d (TF.js kernel, gradient of forward convs) vs the derived shifted-slice form', () => {
  const CASES = [
    { x: [2, 6, 5, 4], k: 3 },
    { x: [1, 8, 8, 3], k: 5 },
    { x: [3, 7, 6, 5], k: 7 },
    { x: [2, 4, 3, 2], k: 7 }, // a map smaller than the kernel
  ];
  for (const { x: xShape, k } of CASES) {
    it(`${k}x${k} on [${xShape}]`, () => {
      const warn = vi.spyOn(console, 'warn');
      const c = xShape[3];
      const [x, w, b, r] = [random(xShape, 1), random([k, k, c], 2), random([c], 3), random(xShape, 4)];
      const ops = new TfOps(new Map());
      const override = valueAndGrads((x, w, b) => ops.depthwiseConv2d(x, w, b), x, w, b, r);
      const derived = valueAndGrads((x, w, b) => Ops.prototype.depthwiseConv2d.call(ops, x, w, b), x, w, b, r);
      const logged = warn.mock.calls.map((call) => call.map(String).join(' '));
      warn.mockRestore();
      expect(logged.filter((l) => /kernel|not registered/i.test(l))).toEqual([]);
      expect(maxRelErr(override.y, derived.y)).toBeLessThan(1e-5);
      for (const [i, name] of ['x', 'w', 'b'].entries()) expect(maxRelErr(override.grads[i], derived.grads[i]), `d/d${name}`).toBeLessThan(1e-5);
      tf.dispose([x, w, b, r]);
      ops.dispose();
    });
  }
});
