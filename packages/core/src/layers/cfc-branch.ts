// The Liquid CfC branch: the closed-form solution of a liquid time-constant cell instead of an ODE solve.
//   backbone = SiLU(x W_bb + b)                      shared features
//   [f_tau | f_x | g] = backbone W_heads + b         the three heads as ONE matmul over concatenated weights
//   h = tanh(g), f = tanh(f_x), gate = sigmoid(-f_tau)
//   h' = gate * h + (1 - gate) * f = h + sigmoid(f_tau) * (f - h)
// h' is a convex mix of two values in [-1, 1], so it is bounded by construction whatever the input.
import type { Scope } from '../param-scope.js';

export function cfcBranch<T>(p: Scope<T>, x: T, dim: number, hidden: number): T {
  const ops = p.ops;
  return p.run(() => {
    const backbone = ops.silu(
      ops.linear(x, p.param('backbone.weight', [dim, hidden], { kind: 'xavier' }), p.param('backbone.bias', [hidden], { kind: 'zeros' })),
    );
    const heads = ops.linear(
      backbone,
      p.param('heads.weight', [hidden, 3 * hidden], { kind: 'xavier' }),
      p.param('heads.bias', [3 * hidden], { kind: 'zeros' }),
    ); // [B, L, 3*hidden]
    const openness = p.label(ops.sigmoid(ops.slice(heads, 2, 0, hidden)), 'gate'); // = 1 - sigmoid(-f_tau)
    const bounded = ops.tanh(ops.slice(heads, 2, hidden, 3 * hidden)); // [f | h], one Tanh for both
    const f = ops.slice(bounded, 2, 0, hidden);
    const h = ops.slice(bounded, 2, hidden, 2 * hidden);
    const next = ops.add(h, ops.mul(openness, ops.sub(f, h)));
    return ops.linear(next, p.param('out.weight', [hidden, dim], { kind: 'xavier' }), p.param('out.bias', [dim], { kind: 'zeros' }));
  });
}
