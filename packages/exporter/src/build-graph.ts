// Checkpoint weights -> the model's ONNX graph (onnx-contract.ts): x [N, C, H, W], t [N] -> v [N, C, H, W], dynamic
// batch N. The config's family builds it.
import {
  type Graph, type ModelConfig, type SymValue, type Weights, ONNX_INPUT, ONNX_OUTPUT, OnnxOps, PORTABLE_OPS, modelForward, sizeOf,
} from '@liquidflow/core';

export interface BuiltGraph {
  graph: Graph;
  nodes: number;
  params: number;
  /** MatMul FLOPs per image (the batch dimension excluded). */
  flopsPerSample: number;
}

export function buildGraph(config: ModelConfig, weights: Weights): BuiltGraph {
  const ops = new OnnxOps({ weights });
  const { x, t } = graphInputs(ops, config);
  return finishGraph(ops, config, x, t, modelForward(ops, config, x, t));
}

/** The contract's inputs at the config's size: x [N, C, S, S] and t [N]. */
export function graphInputs(ops: OnnxOps, config: ModelConfig): { x: SymValue; t: SymValue } {
  const { in_channels: c, img_size: s } = config;
  return { x: ops.input(ONNX_INPUT.image, [-1, c, s, s]), t: ops.input(ONNX_INPUT.time, [-1]) };
}

/** Names the output v, checks every op against the WebGPU/WASM allowlist, counts parameters. */
export function finishGraph(ops: OnnxOps, config: ModelConfig, x: SymValue, t: SymValue, v: SymValue): BuiltGraph {
  const { in_channels: c, img_size: s } = config;
  const graph = ops.toGraph(
    `${config.arch}_${config.variant}`,
    [
      { value: x, shape: ['N', c, s, s] },
      { value: t, shape: ['N'] },
    ],
    [{ value: v, name: ONNX_OUTPUT.velocity, shape: ['N', c, s, s] }],
  );
  const foreign = [...new Set(graph.nodes.map((n) => n.opType))].filter((op) => !PORTABLE_OPS.has(op));
  if (foreign.length) throw new Error(`graph uses ops outside the WebGPU/WASM allowlist: ${foreign.join(', ')}`);
  const params = ops.specs.reduce((n, p) => n + sizeOf(p.shape), 0);
  return { graph, nodes: graph.nodes.length, params, flopsPerSample: ops.matmulFlopsPerSample };
}
