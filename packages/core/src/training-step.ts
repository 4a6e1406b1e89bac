// One whole training step as an ONNX graph, so onnxruntime can train at the speed it runs inference:
//   forward (the config's family) -> loss (flow-loss.ts) -> reverse-mode gradients (onnx-gradient.ts) -> global-norm clipping
//   -> AdamW (bias correction, decoupled decay on matrices) -> EMA of the new weights.
// The architecture and the loss are the same code TF.js trains; only the executor differs. No Loop, Scan or If.
//
// Inputs   weights, adam_m, adam_v, ema [P]  (flat-params.ts)     x0, noise [B, C, H, W]   t [B]
//          lr, bias_correction1, bias_correction2, ema_decay, lambda_smooth, lambda_tv  (scalars, per step)
// Outputs  weights_out, adam_m_out, adam_v_out, ema_out [P]       loss, flow, smooth, tv, grad_norm (scalars)
// The bias corrections 1 - beta^step are computed by the caller in float64 (as the TF.js optimizer does): in float32
// inside the graph, 1 - 0.999^1 would lose about 1e-4 of its value.
import { type FlatLayout, flatLayout } from './flat-params.js';
import { flowMatchingLoss } from './flow-loss.js';
import { type ModelConfig, modelForward } from './families/registry.js';
import { type Graph, PORTABLE_OPS } from './onnx-graph.js';
import { GRADIENT_OPS, appendGradients } from './onnx-gradient.js';
import { ONNX_INPUT, ONNX_OUTPUT } from './onnx-contract.js';
import { OnnxOps, type SymValue } from './ops-onnx.js';
import { paramSpecs } from './param-specs.js';
import { type ParamSpec, sizeOf } from './param-init.js';

/** Every op a training step may use: the forward's and what its gradients add. */
export const TRAINING_OPS: ReadonlySet<string> = new Set([...PORTABLE_OPS, ...GRADIENT_OPS, 'Where']);

export interface AdamWConstants {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
}

/** Per-step scalar inputs of every AdamW step (the bias corrections 1 - beta^step come from the caller, see above). */
export const OPTIMIZER_SCALARS = ['lr', 'bias_correction1', 'bias_correction2', 'ema_decay'] as const;
/** Per-step scalar inputs of the flow-matching loss. */
const LOSS_SCALARS = ['lambda_smooth', 'lambda_tv'] as const;
export const STEP_SCALARS = [...OPTIMIZER_SCALARS, ...LOSS_SCALARS] as const;
export type StepScalar = (typeof STEP_SCALARS)[number];
export const STATE_NAMES = ['weights', 'adam_m', 'adam_v', 'ema'] as const;
export const STEP_REPORTS = ['loss', 'flow', 'smooth', 'tv', 'grad_norm'] as const;

export interface TrainingStepGraph {
  graph: Graph;
  layout: FlatLayout;
  batch: number;
  /** Forward MatMul FLOPs of one step (the whole batch); a step does about 3x this. */
  forwardFlops: number;
}

/** Parameters read from a flat vector: one Slice and one Reshape each, made when the model first asks. */
function flatParams(ops: OnnxOps, layout: FlatLayout, flat: SymValue) {
  return (name: string, shape: number[]) => {
    const at = layout.offsets.get(name);
    if (at === undefined) throw new Error(`parameter '${name}' is not in the flat layout`);
    return ops.scope(name, () => ops.reshape(ops.slice(flat, 0, at, at + sizeOf(shape)), shape));
  };
}

/** What a model's step adds to the optimizer: the loss to minimise, the graph inputs it reads, what it reports. */
export interface StepLoss {
  total: SymValue;
  /** The batch and any per-step scalars the loss reads, as graph inputs. */
  inputs: { value: SymValue; shape: number[] }[];
  /** Reported every step (the total too, under a name of the model's choosing). */
  outputs: { value: SymValue; name: string; shape: number[] }[];
}

/**
 * One AdamW step of any model written against Ops: `loss` builds the forward pass and loss on `ops`, whose parameters
 * are sliced from the flat 'weights' input; this appends the gradients, global-norm clipping, AdamW and the EMA.
 * `gradients`: also output the flat, unclipped gradient as 'grad' [P] (for gradient checks).
 */
export function buildAdamWStep(
  name: string, specs: readonly ParamSpec[], adam: AdamWConstants, loss: (ops: OnnxOps) => StepLoss, opts: { gradients?: boolean } = {},
): { graph: Graph; layout: FlatLayout; forwardFlops: number } {
  const layout = flatLayout(specs);
  const P = layout.size;
  // paramValue runs only once the model asks for a parameter, after `state` below exists.
  const ops: OnnxOps = new OnnxOps({ paramValue: (n, shape) => flatParams(ops, layout, state.weights)(n, shape) });
  const state = Object.fromEntries(STATE_NAMES.map((n) => [n, ops.input(n, [P])])) as Record<(typeof STATE_NAMES)[number], SymValue>;
  const k = Object.fromEntries(OPTIMIZER_SCALARS.map((n) => [n, ops.input(n, [])])) as Record<(typeof OPTIMIZER_SCALARS)[number], SymValue>;

  // Forward and loss. Parameters are sliced out of the flat vector as the model reaches them.
  const terms = ops.scope('loss', () => loss(ops));
  const forwardFlops = ops.matmulFlopsPerSample;

  // Gradients of each parameter (not of the flat vector: that would pad every one to P), then one flat vector.
  const paramValues = layout.specs.map((spec) => ops.param(spec.name, spec.shape, spec.init));
  const grads = appendGradients(ops, terms.total, paramValues);
  const opt = ops.scope('optimizer', () => {
    const g = ops.concat(grads.map((gr, i) => ops.reshape(gr, [sizeOf(layout.specs[i].shape)])), 0); // [P]
    const norm = ops.sqrt(ops.node('ReduceSum', [ops.mul(g, g), ops.int64([0], 'axes')], [1], { keepdims: 1 }));
    let gs = g;
    if (adam.clipNorm > 0) {
      // scale = clip / max(norm, clip): exactly 1 when the norm is under the limit. (Where, not Max: WebGPU has no Max.)
      const clip = ops.constant(`const.clip_${adam.clipNorm}`, [1], () => Float32Array.of(adam.clipNorm));
      const over = ops.node('Greater', [norm, clip], [1]);
      gs = ops.mul(g, ops.div(clip, ops.node('Where', [over, norm, clip], [1])));
    }
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = adam;
    const m = ops.add(ops.mul(state.adam_m, b1), ops.mul(gs, 1 - b1));
    const v = ops.add(ops.mul(state.adam_v, b2), ops.mul(ops.mul(gs, gs), 1 - b2));
    const update = ops.div(ops.div(m, k.bias_correction1), ops.add(ops.sqrt(ops.div(v, k.bias_correction2)), eps));
    // p - lr (update + wd p) on the matrices (the prefix), p - lr update on the rest.
    const p = state.weights;
    const step = (from: number, to: number, decay: boolean) => {
      const pp = from === 0 && to === P ? p : ops.slice(p, 0, from, to);
      const uu = from === 0 && to === P ? update : ops.slice(update, 0, from, to);
      return ops.sub(pp, ops.mul(decay ? ops.add(uu, ops.mul(pp, wd)) : uu, k.lr));
    };
    const parts = [];
    if (layout.decayed > 0) parts.push(step(0, layout.decayed, wd !== 0));
    if (layout.decayed < P) parts.push(step(layout.decayed, P, false));
    const w = parts.length === 1 ? parts[0] : ops.concat(parts, 0);
    const ema = ops.add(ops.mul(state.ema, k.ema_decay), ops.mul(w, ops.add(ops.neg(k.ema_decay), 1)));
    return { w, m, v, ema, g, norm: ops.reshape(norm, []) };
  });

  const graph = ops.toGraph(
    name,
    [...STATE_NAMES.map((n) => ({ value: state[n], shape: [P] })), ...terms.inputs, ...OPTIMIZER_SCALARS.map((n) => ({ value: k[n], shape: [] }))],
    [
      { value: opt.w, name: 'weights_out', shape: [P] },
      { value: opt.m, name: 'adam_m_out', shape: [P] },
      { value: opt.v, name: 'adam_v_out', shape: [P] },
      { value: opt.ema, name: 'ema_out', shape: [P] },
      ...terms.outputs,
      { value: opt.norm, name: 'grad_norm', shape: [] },
      ...(opts.gradients ? [{ value: opt.g, name: 'grad', shape: [P] }] : []),
    ],
  );
  const foreign = [...new Set(graph.nodes.map((n) => n.opType))].filter((op) => !TRAINING_OPS.has(op));
  if (foreign.length) throw new Error(`training step uses ops outside the WebGPU/WASM allowlist: ${foreign.join(', ')}`);
  return { graph, layout, forwardFlops };
}

/** `gradients`: also output the flat, unclipped gradient as 'grad' [P] (for gradient checks). */
export function buildTrainingStep(cfg: ModelConfig, batch: number, adam: AdamWConstants, opts: { gradients?: boolean } = {}): TrainingStepGraph {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
  const { in_channels: c, img_size: s } = cfg;
  const image = [batch, c, s, s];
  const built = buildAdamWStep(`${cfg.arch}_${cfg.variant}_train_step`, paramSpecs(cfg), adam, (ops) => {
    const x0 = ops.input('x0', image);
    const noise = ops.input('noise', image);
    const t = ops.input('t', [batch]);
    const k = Object.fromEntries(LOSS_SCALARS.map((n) => [n, ops.input(n, [])])) as Record<(typeof LOSS_SCALARS)[number], SymValue>;
    const loss = flowMatchingLoss(ops, (xt, tt) => modelForward(ops, cfg, xt, tt), x0, noise, t, { smooth: k.lambda_smooth, tv: k.lambda_tv });
    // Weights given as graph inputs are never the number 0, so the physics terms are always there.
    return {
      total: loss.total,
      inputs: [{ value: x0, shape: image }, { value: noise, shape: image }, { value: t, shape: [batch] }, ...LOSS_SCALARS.map((n) => ({ value: k[n], shape: [] }))],
      outputs: [
        { value: loss.total, name: 'loss', shape: [] }, { value: loss.flow, name: 'flow', shape: [] },
        { value: loss.smooth as SymValue, name: 'smooth', shape: [] }, { value: loss.tv as SymValue, name: 'tv', shape: [] },
      ],
    };
  }, opts);
  return { ...built, batch };
}

/**
 * The velocity v(x, t) with weights from a flat vector input: how the ORT engine samples grids from its EMA vector
 * without writing a model file. Inputs weights [P] and the model's x [N, C, H, W], t [N]; output v. Dynamic batch.
 */
export function buildFlatVelocity(cfg: ModelConfig): { graph: Graph; layout: FlatLayout } {
  const layout = flatLayout(paramSpecs(cfg));
  const ops: OnnxOps = new OnnxOps({ paramValue: (name, shape) => flatParams(ops, layout, weights)(name, shape) });
  const weights = ops.input('weights', [layout.size]);
  const { in_channels: c, img_size: s } = cfg;
  const x = ops.input(ONNX_INPUT.image, [-1, c, s, s]);
  const t = ops.input(ONNX_INPUT.time, [-1]);
  const v = modelForward(ops, cfg, x, t);
  const graph = ops.toGraph(`${cfg.arch}_${cfg.variant}_flat`, [
    { value: weights, shape: [layout.size] }, { value: x, shape: ['N', c, s, s] }, { value: t, shape: ['N'] },
  ], [{ value: v, name: ONNX_OUTPUT.velocity, shape: ['N', c, s, s] }]);
  return { graph, layout };
}
