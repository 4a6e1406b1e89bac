// A dense layer with its own parameters: x [..., fanIn] -> [..., fanOut].
import type { Scope } from '../param-scope.js';

/** Xavier-initialised weight [fanIn, fanOut] (or normal with `std`), zero bias unless `bias` is false. */
export function linearLayer<T>(p: Scope<T>, x: T, fanIn: number, fanOut: number, opts: { bias?: boolean; std?: number } = {}): T {
  const w = p.param('weight', [fanIn, fanOut], opts.std === undefined ? { kind: 'xavier' } : { kind: 'normal', std: opts.std });
  const b = opts.bias === false ? undefined : p.param('bias', [fanOut], { kind: 'zeros' });
  return p.ops.linear(x, w, b);
}
