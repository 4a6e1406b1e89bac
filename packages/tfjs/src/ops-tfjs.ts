// The TensorFlow.js executor: the same architecture as differentiable tensors, for training and as the reference
// forward. Ops are written so that no gradient kernel missing on the wasm backend is ever needed: the depthwise conv
// below and permute have their own gradients (no DepthwiseConv2dNativeBackprop*, no gather's UnsortedSegmentSum), and
// the full conv is ops.ts's im2col and matmul (no Conv2DBackpropFilter).
import * as tf from '@tensorflow/tfjs';
import { Ops, type Operand, type ParamInit, sizeOf } from '@liquidflow/core';

export class TfOps extends Ops<tf.Tensor> {
  readonly executor = 'tfjs';
  private readonly constants = new Map<string, tf.Tensor>();
  private readonly permutations = new Map<Int32Array, (x: tf.Tensor) => tf.Tensor>();
  /** Tensors this executor keeps across calls (constants, permutation indices); freed by dispose(). */
  private readonly kept: tf.Tensor[] = [];

  /** params: the model's variables by checkpoint name. */
  constructor(private readonly params: ReadonlyMap<string, tf.Variable>) {
    super();
  }

  shape(x: tf.Tensor): number[] {
    return x.shape.slice();
  }

  param(name: string, shape: number[], _init: ParamInit): tf.Tensor {
    const v = this.params.get(name);
    if (!v) throw new Error(`parameter '${name}' has no variable (expected shape [${shape}])`);
    if (v.size !== sizeOf(shape)) throw new Error(`parameter '${name}' has shape [${v.shape}], expected [${shape}]`);
    return v.shape.join() === shape.join() ? v : v.reshape(shape);
  }

  constant(name: string, shape: number[], make: () => Float32Array): tf.Tensor {
    let c = this.constants.get(name);
    if (!c) {
      c = tf.keep(tf.tensor(make(), shape, 'float32'));
      this.kept.push(c);
      this.constants.set(name, c);
    }
    return c;
  }

  add(a: tf.Tensor, b: Operand<tf.Tensor>) { return tf.add(a, b); }
  sub(a: tf.Tensor, b: Operand<tf.Tensor>) { return tf.sub(a, b); }
  mul(a: tf.Tensor, b: Operand<tf.Tensor>) { return tf.mul(a, b); }
  div(a: tf.Tensor, b: Operand<tf.Tensor>) { return tf.div(a, b); }
  neg(x: tf.Tensor) { return tf.neg(x); }
  exp(x: tf.Tensor) { return tf.exp(x); }
  log(x: tf.Tensor) { return tf.log(x); }
  abs(x: tf.Tensor) { return tf.abs(x); }
  relu(x: tf.Tensor) { return tf.relu(x); }
  sqrt(x: tf.Tensor) { return tf.sqrt(x); }
  sigmoid(x: tf.Tensor) { return tf.sigmoid(x); }
  tanh(x: tf.Tensor) { return tf.tanh(x); }
  erf(x: tf.Tensor) { return tf.erf(x); }
  sin(x: tf.Tensor) { return tf.sin(x); }
  cos(x: tf.Tensor) { return tf.cos(x); }

  matmul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    const [m, k] = a.shape.slice(-2);
    const n = b.shape[b.rank - 1];
    if (b.rank === 2) {
      // A weight: fold every leading dim into rows, one large 2D matmul.
      if (a.rank === 2) return tf.matMul(a, b);
      return tf.reshape(tf.matMul(tf.reshape(a, [-1, k]), b), [...a.shape.slice(0, -2), m, n]);
    }
    const batch = a.shape.slice(0, -2);
    if (batch.join() !== b.shape.slice(0, -2).join()) {
      throw new Error(`matmul: batch dims must match, got [${a.shape}] x [${b.shape}]`);
    }
    if (a.rank === 3) return tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D);
    const out = tf.matMul(tf.reshape(a, [-1, m, k]) as tf.Tensor3D, tf.reshape(b, [-1, k, n]) as tf.Tensor3D);
    return tf.reshape(out, [...batch, m, n]);
  }

  reshape(x: tf.Tensor, shape: number[]) { return tf.reshape(x, shape); }
  transpose(x: tf.Tensor, perm: number[]) { return tf.transpose(x, perm); }

  slice(x: tf.Tensor, axis: number, start: number, end: number): tf.Tensor {
    const ax = axis < 0 ? axis + x.rank : axis;
    if (x.rank <= 4) {
      const begin = new Array(x.rank).fill(0);
      const size = x.shape.slice();
      begin[ax] = start;
      size[ax] = end - start;
      return tf.slice(x, begin, size);
    }
    // Rank 5+ as a rank-3 slice of [outer, axis, inner] (reshapes are free): the wasm backend slices rank <= 4
    // natively but rank 5+ element by element in JS (~20 ms for the scan's [B, chunks, heads, q, q] tensors).
    const outer = sizeOf(x.shape.slice(0, ax));
    const inner = sizeOf(x.shape.slice(ax + 1));
    const cut = tf.slice(tf.reshape(x, [outer, x.shape[ax], inner]), [0, start, 0], [outer, end - start, inner]);
    const shape = x.shape.slice();
    shape[ax] = end - start;
    return tf.reshape(cut, shape);
  }

  concat(xs: tf.Tensor[], axis: number) { return tf.concat(xs, axis); }
  pad(x: tf.Tensor, pads: [number, number][]) { return tf.pad(x, pads); }
  reduceMean(x: tf.Tensor, axis: number) { return tf.mean(x, axis, true); }

  /**
   * TF.js's depthwise conv kernel (XNNPACK on wasm) with a gradient made of the same forward kernel, which every backend
   * has: dx is the conv of dy with the flipped kernel; dw is a 'valid' conv of the padded input, batch folded into the
   * channels, with dy as a kernel the size of the map. The derived form (ops.ts) makes k*k copies of the input forward
   * and back: about 5x slower for a 7x7 kernel on wasm.
   */
  override depthwiseConv2d(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
    const [k, , c] = w.shape;
    return tf.add(this.depthwise(x as tf.Tensor4D, tf.reshape(w, [k, k, c, 1]) as tf.Tensor4D), b);
  }

  private readonly depthwise = tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.depthwiseConv2d(x, w, 1, 'same'),
      gradFunc: (dy: tf.Tensor4D, [xs, ws]: tf.Tensor[]) => {
        const [b, h, wd, c] = xs.shape;
        const k = ws.shape[0];
        const r = (k - 1) / 2;
        const dx = tf.depthwiseConv2d(dy, tf.reverse(ws as tf.Tensor4D, [0, 1]), 1, 'same');
        const padded = tf.pad(xs, [[0, 0], [r, r], [r, r], [0, 0]]);
        const input = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, h + 2 * r, wd + 2 * r, b * c]) as tf.Tensor4D;
        const kernel = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [h, wd, b * c, 1]) as tf.Tensor4D;
        const perEntry = tf.reshape(tf.depthwiseConv2d(input, kernel, 1, 'valid'), [k, k, b, c]);
        return [dx, tf.reshape(tf.sum(perEntry, 2), [k, k, c, 1])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

  /** Gather along an axis by a permutation; its gradient is the gather by the inverse permutation. */
  permute(x: tf.Tensor, axis: number, perm: Int32Array): tf.Tensor {
    let fn = this.permutations.get(perm);
    if (!fn) {
      const inverse = new Int32Array(perm.length);
      inverse.fill(-1);
      for (let i = 0; i < perm.length; i++) inverse[perm[i]] = i;
      if (inverse.includes(-1)) throw new Error(`permute: indices are not a permutation of 0..${perm.length - 1}`);
      const fwd = tf.keep(tf.tensor1d(perm, 'int32'));
      const back = tf.keep(tf.tensor1d(inverse, 'int32'));
      this.kept.push(fwd, back);
      const gatherWithInverseGrad = (input: tf.Tensor) => ({
        value: tf.gather(input, fwd, axis),
        gradFunc: (dy: tf.Tensor) => tf.gather(dy, back, axis),
      });
      fn = tf.customGrad(gatherWithInverseGrad as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
      this.permutations.set(perm, fn);
    }
    return fn(x);
  }

  dispose(): void {
    for (const t of this.kept) t.dispose();
    this.kept.length = 0;
    this.constants.clear();
    this.permutations.clear();
  }
}
