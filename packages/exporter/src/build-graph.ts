// Checkpoint weights -> the LiquidFlow ONNX graph: x [N, C, H, W], t [N] -> v [N, C, H, W], dynamic batch N.
import { type Graph, type LiquidFlowConfig, type Weights, liquidFlow, OnnxOps, PORTABLE_OPS, sizeOf } from '@liquidflow/core';

export interface BuiltGraph {
  graph: Graph;
  nodes: number;
  params: number;
  /** MatMul FLOPs per image (the batch dimension excluded). */
  flopsPerSample: number;
}

export function buildGraph(config: LiquidFlowConfig, weights: Weights): BuiltGraph {
  const ops = new OnnxOps({ weights });
  const { in_channels: c, img_size: s } = config;
  const x = ops.input('x', [-1, c, s, s]);
  const t = ops.input('t', [-1]);
  const v = liquidFlow(ops, config, x, t);
  const graph = ops.toGraph(
    `liquidflow_${config.variant}`,
    [
      { value: x, shape: ['N', c, s, s] },
      { value: t, shape: ['N'] },
    ],
    [{ value: v, name: 'v', shape: ['N', c, s, s] }],
  );
  const foreign = [...new Set(graph.nodes.map((n) => n.opType))].filter((op) => !PORTABLE_OPS.has(op));
  if (foreign.length) throw new Error(`graph uses ops outside the WebGPU/WASM allowlist: ${foreign.join(', ')}`);
  const params = ops.specs.reduce((n, p) => n + sizeOf(p.shape), 0);
  return { graph, nodes: graph.nodes.length, params, flopsPerSample: ops.matmulFlopsPerSample };
}
