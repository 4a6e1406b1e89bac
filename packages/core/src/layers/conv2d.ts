// A full 2D conv with its own parameters, on channels-last maps (the op itself is derived in ops.ts).
import type { Scope } from '../param-scope.js';

/**
 * 'Same' k x k conv of map [B, H, W, Cin] -> [B, H, W, Cout]: weight [k, k, Cin, Cout] ~ N(0, std^2), Glorot's std by
 * default (fan in k*k*Cin, fan out k*k*Cout), zero bias.
 */
export function conv2dLayer<T>(p: Scope<T>, map: T, cin: number, cout: number, k = 3, opts: { std?: number } = {}): T {
  const std = opts.std ?? Math.sqrt(2 / (k * k * (cin + cout)));
  return p.run(() => p.ops.conv2d(map, p.param('weight', [k, k, cin, cout], { kind: 'normal', std }), p.param('bias', [cout], { kind: 'zeros' })));
}
