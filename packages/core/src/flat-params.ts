// The ONNX training step keeps every parameter in one flat float32 vector (and the moments and EMA alike), so the
// optimizer is a dozen whole-vector nodes instead of a dozen per parameter, and a step passes four buffers in and out.
// Matrices (rank >= 2, the AdamW-decayed ones) come first, so weight decay applies to one prefix of the vector.
import { type ParamSpec, type Weights, sizeOf } from './param-init.js';

export interface FlatLayout {
  /** Parameters in vector order. */
  specs: ParamSpec[];
  /** Where each parameter starts, by name. */
  offsets: Map<string, number>;
  /** Total length. */
  size: number;
  /** Length of the decayed prefix (every rank >= 2 parameter). */
  decayed: number;
}

export function flatLayout(specs: readonly ParamSpec[]): FlatLayout {
  const ordered = [...specs.filter((s) => s.shape.length >= 2), ...specs.filter((s) => s.shape.length < 2)];
  const offsets = new Map<string, number>();
  let at = 0;
  let decayed = 0;
  for (const s of ordered) {
    offsets.set(s.name, at);
    at += sizeOf(s.shape);
    if (s.shape.length >= 2) decayed = at;
  }
  return { specs: ordered, offsets, size: at, decayed };
}

export function flatten(layout: FlatLayout, weights: Weights, what = 'weights'): Float32Array {
  const out = new Float32Array(layout.size);
  for (const s of layout.specs) {
    const w = weights[s.name];
    if (!w || w.length !== sizeOf(s.shape)) throw new Error(`${what}: parameter '${s.name}' is ${w ? `${w.length} values` : 'missing'}, expected [${s.shape}]`);
    out.set(w, layout.offsets.get(s.name) as number);
  }
  return out;
}

/** Copies (not views), so the caller may reuse the vector. */
export function unflatten(layout: FlatLayout, flat: Float32Array): Weights {
  if (flat.length !== layout.size) throw new Error(`flat parameter vector has ${flat.length} values, expected ${layout.size}`);
  const out: Weights = {};
  for (const s of layout.specs) {
    const at = layout.offsets.get(s.name) as number;
    out[s.name] = flat.slice(at, at + sizeOf(s.shape));
  }
  return out;
}
