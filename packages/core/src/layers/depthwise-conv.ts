// Depthwise convolutions with their own parameters, on channels-last maps (the op itself is derived in ops.ts).
import type { Scope } from '../param-scope.js';

/** 'Same' depthwise k x k conv of map [B, H, W, C]: weight [k, k, C] ~ N(0, 0.02^2), zero bias. */
export function depthwiseConv<T>(p: Scope<T>, map: T, channels: number, k = 3): T {
  return p.ops.depthwiseConv2d(map, p.param('weight', [k, k, channels], { kind: 'normal', std: 0.02 }), p.param('bias', [channels], { kind: 'zeros' }));
}

/** x + depthwise k x k conv of x, on tokens [B, L, C] laid out as a grid x grid map. */
export function depthwiseResidual<T>(p: Scope<T>, x: T, grid: number, channels: number, k = 3): T {
  const ops = p.ops;
  return p.run(() => {
    const conv = depthwiseConv(p, ops.reshape(x, [-1, grid, grid, channels]), channels, k);
    return ops.add(x, ops.reshape(conv, [-1, grid * grid, channels]));
  });
}
