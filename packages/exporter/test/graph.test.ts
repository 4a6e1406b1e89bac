// What users of the .onnx rely on: portable ops only, no control flow, opset 17, the documented interface and
// metadata, a size close to 4 bytes per parameter, a small node count, and a file the ONNX checker accepts.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PORTABLE_OPS, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { buildGraph, decodeModel, exportBytes, OPSET } from '@liquidflow/exporter';

// ORT-web's WebGPU EP operator table (js/web/docs/webgpu-operators.md) restricted to what opset 17 needs. Every one
// also has a CPU/WASM kernel. The exporter's allowlist must stay inside it.
const WEBGPU_OPS = new Set([
  'Abs', 'Add', 'ArgMax', 'Cast', 'Ceil', 'Clip', 'Concat', 'Conv', 'Cos', 'Div', 'Einsum', 'Equal', 'Erf', 'Exp',
  'Expand', 'Flatten', 'Floor', 'Gather', 'GatherElements', 'Gemm', 'Greater', 'LayerNormalization', 'Less', 'Log',
  'MatMul', 'Mul', 'Neg', 'Not', 'Pad', 'Pow', 'Range', 'Reciprocal', 'ReduceMax', 'ReduceMean', 'ReduceSum', 'Relu',
  'Reshape', 'Resize', 'Sigmoid', 'Sin', 'Slice', 'Softmax', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Tile',
  'Transpose', 'Unsqueeze', 'Where',
]);

const tiny32 = resolveConfig('tiny', { img_size: 32 });
const exported = exportBytes(freshCheckpoint(tiny32, 0));
const info = decodeModel(exported.bytes);

describe('exported graph', () => {
  it('uses only ops with WebGPU and WASM kernels, and no control flow', () => {
    for (const op of PORTABLE_OPS) expect(WEBGPU_OPS.has(op), `${op} is not in the WebGPU table`).toBe(true);
    const used = new Set(info.opTypes);
    for (const op of used) expect(PORTABLE_OPS.has(op), `${op} is not in the allowlist`).toBe(true);
    for (const op of ['Loop', 'Scan', 'If', 'Softplus', 'CumSum']) expect(used.has(op)).toBe(false);
  });

  it('is opset 17 in the default domain', () => {
    expect(OPSET).toBe(17);
    expect(info.opset).toEqual([{ domain: '', version: 17 }]);
  });

  it('has inputs x, t and output v, and the config in metadata_props', () => {
    expect(info.inputs).toEqual(['x', 't']);
    expect(info.outputs).toEqual(['v']);
    expect(JSON.parse(info.metadata['liquidflow.config'])).toEqual(tiny32);
    expect(info.metadata['liquidflow.weights']).toBe('ema');
    expect(info.metadata['liquidflow.step']).toBe('0');
  });

  it('weighs at most 2% over 4 bytes per parameter', () => {
    expect(exported.bytes.length).toBeLessThanOrEqual(4 * exported.params * 1.02);
  });

  it('keeps tiny under 1500 nodes at 32, 128 and 256 px', () => {
    for (const img_size of [32, 128, 256]) {
      const cfg = resolveConfig('tiny', { img_size });
      const { nodes } = buildGraph(cfg, freshCheckpoint(cfg, 0).ema);
      expect(nodes, `${img_size}px`).toBeLessThanOrEqual(1500);
    }
  });

  it('runs with a dynamic batch', async () => {
    const session = await ort.InferenceSession.create(exported.bytes);
    for (const n of [1, 3]) {
      const x = new ort.Tensor('float32', new Float32Array(n * 3 * 32 * 32).fill(0.1), [n, 3, 32, 32]);
      const out = await session.run({ x, t: new ort.Tensor('float32', new Float32Array(n).fill(0.5), [n]) });
      expect(out.v.dims).toEqual([n, 3, 32, 32]);
      expect(Array.from(out.v.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    await session.release();
  });

  it('passes onnx.checker.check_model(full_check=True) of python3-onnx', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lf-check-'));
    const path = join(dir, 'tiny.onnx');
    writeFileSync(path, exported.bytes);
    // Debian's python3-onnx lives with /usr/bin/python3 (.ci/run installs it).
    const script = 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print("ok", m.opset_import[0].version)';
    const out = execFileSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
    expect(out.trim()).toBe('ok 17');
  });
});
