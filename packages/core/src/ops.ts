// The small op set the architecture is written against. Executors implement the primitives (TensorFlow.js tensors for
// training, a symbolic ONNX graph for export); everything else is derived here once. An executor overrides a derived
// op only when a parity test and a benchmark justify it (the ONNX executor uses LayerNormalization, for example).
//
// Shapes: every dimension is static except the batch, which shape() reports as -1 and reshapes write as -1.
import type { ParamInit } from './param-init.js';

export type Operand<T> = T | number;

export abstract class Ops<T> {
  abstract readonly executor: string;

  // ---- values ----
  abstract shape(x: T): number[];
  /** A named trainable weight; the name is its checkpoint key and ONNX initializer name. */
  abstract param(name: string, shape: number[], init: ParamInit): T;
  /** A named constant, built by make() the first time the name is seen and shared after (every block reuses it). */
  abstract constant(name: string, shape: number[], make: () => Float32Array): T;
  /** Names a value after the module that computed it (ONNX value names); a no-op where names do not exist. */
  label(x: T, _name: string): T {
    return x;
  }
  /** Runs fn with name as the current module path (ONNX node names). */
  scope<R>(_name: string, fn: () => R): R {
    return fn();
  }

  // ---- elementwise (numpy broadcasting) ----
  abstract add(a: T, b: Operand<T>): T;
  abstract sub(a: T, b: Operand<T>): T;
  abstract mul(a: T, b: Operand<T>): T;
  abstract div(a: T, b: Operand<T>): T;
  abstract neg(x: T): T;
  abstract exp(x: T): T;
  abstract log(x: T): T;
  abstract abs(x: T): T;
  abstract relu(x: T): T;
  abstract sqrt(x: T): T;
  abstract sigmoid(x: T): T;
  abstract tanh(x: T): T;
  abstract erf(x: T): T;
  abstract sin(x: T): T;
  abstract cos(x: T): T;

  // ---- linear algebra, movement, reduction ----
  /** Batched matmul. b is either rank 2 (a weight, shared by every batch entry) or has a's batch dims exactly. */
  abstract matmul(a: T, b: T): T;
  abstract reshape(x: T, shape: number[]): T;
  abstract transpose(x: T, perm: number[]): T;
  abstract slice(x: T, axis: number, start: number, end: number): T;
  abstract concat(xs: T[], axis: number): T;
  /** Zero padding; pads[i] = [before, after] for axis i. */
  abstract pad(x: T, pads: [number, number][]): T;
  /** Mean over one axis, keeping it (size 1). */
  abstract reduceMean(x: T, axis: number): T;
  /** Reorders x along an axis by a permutation of its indices (the zigzag scan orders). */
  abstract permute(x: T, axis: number, perm: Int32Array): T;

  // ---- derived ----
  silu(x: T): T {
    return this.mul(x, this.sigmoid(x));
  }

  /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)); ORT fuses this pattern into one Gelu kernel where it has one. */
  gelu(x: T): T {
    return this.mul(this.mul(x, 0.5), this.add(this.erf(this.mul(x, Math.SQRT1_2)), 1));
  }

  /** softplus(x) = relu(x) + log(1 + exp(-|x|)): no overflow, and uses only ops WebGPU has (it has no Softplus). */
  softplus(x: T): T {
    return this.add(this.relu(x), this.log(this.add(this.exp(this.neg(this.abs(x))), 1)));
  }

  /** Layer norm over the last axis without affine parameters (AdaLN supplies scale and shift). */
  layerNorm(x: T, eps: number): T {
    const last = this.shape(x).length - 1;
    const centered = this.sub(x, this.reduceMean(x, last));
    const variance = this.reduceMean(this.mul(centered, centered), last);
    return this.div(centered, this.sqrt(this.add(variance, eps)));
  }

  /**
   * Group norm without affine parameters on channels-last x [B, H, W, C]: mean and variance over each group's H*W*C/groups
   * values, taken as two ReduceMeans (the group's channels, then the positions) on a free reshape, so no transpose is
   * needed. ONNX's GroupNormalization needs opset 18, and onnxruntime-web's WebGPU provider has no kernel for it.
   */
  groupNorm(x: T, groups: number, eps: number): T {
    const [, h, w, c] = this.shape(x);
    const grouped = this.reshape(x, [-1, h * w, groups, c / groups]);
    const mean = (v: T) => this.reduceMean(this.reduceMean(v, 3), 1); // [B, 1, groups, 1]
    const centered = this.sub(grouped, mean(grouped));
    const variance = mean(this.mul(centered, centered));
    return this.reshape(this.div(centered, this.sqrt(this.add(variance, eps))), [-1, h, w, c]);
  }

  linear(x: T, w: T, b?: T): T {
    const y = this.matmul(x, w);
    return b ? this.add(y, b) : y;
  }

  /**
   * Depthwise 2D conv, 'same' padding, on channels-last x [B, H, W, C] with w [k, k, C], b [C]: the reference form, a
   * sum of k*k shifted slices. Both executors override it (ONNX: one grouped Conv; TF.js: its own conv kernel, with a
   * gradient made of forward convs, since the wasm backend has no depthwise gradient kernels), and the parity tests hold
   * each override to this form.
   */
  depthwiseConv2d(x: T, w: T, b: T): T {
    const [, h, wd, c] = this.shape(x);
    const k = this.shape(w)[0];
    const r = (k - 1) / 2;
    const padded = this.pad(x, [[0, 0], [r, r], [r, r], [0, 0]]);
    let acc: T | null = null;
    for (let i = 0; i < k; i++) {
      const rows = this.slice(padded, 1, i, i + h);
      for (let j = 0; j < k; j++) {
        const tap = this.reshape(this.slice(this.slice(w, 0, i, i + 1), 1, j, j + 1), [c]);
        const term = this.mul(this.slice(rows, 2, j, j + wd), tap);
        acc = acc === null ? term : this.add(acc, term);
      }
    }
    return this.add(acc as T, b);
  }

  /**
   * Full 2D conv, 'same' padding, stride 1, on channels-last x [B, H, W, Cin] with w [k, k, Cin, Cout], b [Cout]: im2col
   * (the k*k shifted windows of the input side by side on the channel axis, in w's order) and one matmul. The copies are
   * of the input only, and no conv gradient kernel is needed (TF.js's wasm backend has no Conv2DBackpropFilter).
   */
  conv2d(x: T, w: T, b: T): T {
    const [, h, wd, cin] = this.shape(x);
    const [k, , , cout] = this.shape(w);
    const r = (k - 1) / 2;
    const padded = r ? this.pad(x, [[0, 0], [r, r], [r, r], [0, 0]]) : x;
    const windows: T[] = [];
    for (let i = 0; i < k; i++) {
      const rows = r ? this.slice(padded, 1, i, i + h) : padded;
      for (let j = 0; j < k; j++) windows.push(r ? this.slice(rows, 2, j, j + wd) : rows);
    }
    const patches = windows.length === 1 ? windows[0] : this.concat(windows, 3); // [B, H, W, k*k*Cin]
    return this.linear(patches, this.reshape(w, [k * k * cin, cout]), b);
  }

  /** Causal depthwise conv over the sequence axis of x [B, L, C] with w [k, C], b [C]: output t sees inputs <= t. */
  causalConv1d(x: T, w: T, b: T): T {
    const [, len, c] = this.shape(x);
    const k = this.shape(w)[0];
    const padded = this.pad(x, [[0, 0], [k - 1, 0], [0, 0]]);
    let acc: T | null = null;
    for (let j = 0; j < k; j++) {
      const tap = this.reshape(this.slice(w, 0, j, j + 1), [c]);
      const term = this.mul(this.slice(padded, 1, j, j + len), tap);
      acc = acc === null ? term : this.add(acc, term);
    }
    return this.add(acc as T, b);
  }
}
