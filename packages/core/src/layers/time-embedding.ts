// The conditioning vector of a flow model: sinusoidal features of t (scaled to [0, 1000]) -> MLP -> SiLU, c [B, dim].
import type { Scope } from '../param-scope.js';
import { linearLayer } from './linear.js';

export function timeEmbedding<T>(p: Scope<T>, t: T, freqDim: number, dim: number): T {
  const ops = p.ops;
  return p.run(() => {
    const half = freqDim / 2;
    const freqs = ops.constant(`t_embed.freqs_${half}`, [1, half], () =>
      Float32Array.from({ length: half }, (_, i) => 1000 * Math.exp((-Math.log(10000) * i) / half)),
    );
    const args = ops.mul(ops.reshape(t, [-1, 1]), freqs); // [B, half]
    const feats = ops.concat([ops.cos(args), ops.sin(args)], 1); // [B, freqDim]
    const h = ops.silu(linearLayer(p.child('mlp.0'), feats, freqDim, dim, { std: 0.02 }));
    return ops.silu(linearLayer(p.child('mlp.2'), h, dim, dim, { std: 0.02 }));
  });
}
