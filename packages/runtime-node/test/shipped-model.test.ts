// The shipped demo model (models/fashion-mnist-tiny) keeps loading and generating unchanged as the code moves: its
// metadata (format 1, a config without arch) and its checkpoint's config.json (version 2) resolve to the same
// LiquidFlow config, a fresh export of that config is the same graph node for node, and sampling it gives the same
// image as before model families existed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { PNG } from 'pngjs';
import { readLiquidFlowInfo } from '@liquidflow/core';
import { freshCheckpoint, parseCheckpointConfig } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import { LiquidFlow } from '@liquidflow/runtime-node';

const { onnx } = onnxProto;
const dir = join(resolve(fileURLToPath(new URL('../../..', import.meta.url))), 'models/fashion-mnist-tiny');
const modelPath = join(dir, 'model.onnx');
const bytes = new Uint8Array(readFileSync(modelPath));

/** The config it was trained and exported with, field by field as the files hold it, plus the arch they imply. */
const CONFIG = {
  arch: 'liquidflow', variant: 'tiny', img_size: 32, patch_size: 4, in_channels: 3, dim: 160, depth: 8, expand: 2, head_dim: 64,
  d_state: 16, d_conv: 4, cfc_dim: 0, mlp_ratio: 4, time_freq_dim: 256, scan_orders: 4,
  // Fields added after it was exported, at the values that reproduce it.
  pad_tokens: 0, smoothers: 'pixels', scan_schedule: 'snake', ssm: 'head',
};

/**
 * The RGBA bytes of generate({ count: 1, steps: 2, seed: 0 }) on the CPU with one thread, made with the code before
 * model families (commit cd6e467; SHA-256 of the bytes a6bbd30c...) on the 2-core AMD EPYC development host and kept
 * as a PNG. Compared within 1 level of 255, not by hash: a host whose onnxruntime CPU kernels (AVX-512, AMX) round
 * differently may move a pixel by a level, and a changed model moves many by far more.
 */
const GENERATED_PNG = join(import.meta.dirname, 'fixtures', 'demo-seed0-steps2.png');

describe('shipped demo model models/fashion-mnist-tiny', () => {
  const info = readLiquidFlowInfo(bytes, modelPath);

  it('its metadata (format 1, no arch) resolves to the LiquidFlow config it was exported with', () => {
    expect(info.formatVersion).toBe(1);
    expect(JSON.parse(info.metadata['liquidflow.config']).arch).toBeUndefined();
    expect(info.config).toEqual(CONFIG);
    expect(Object.keys(info.config)).toEqual(Object.keys(CONFIG));
    expect({ step: info.step, weights: info.weights, trainedImgSize: info.trainedImgSize }).toEqual({ step: 12000, weights: 'raw', trainedImgSize: 32 });
  });

  it("its checkpoint's config.json (version 2, no arch) resolves to the same config", () => {
    const path = join(dir, 'checkpoint-config.json');
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    expect(raw.version).toBe(2);
    const meta = parseCheckpointConfig(raw, path);
    expect(meta.config).toEqual(CONFIG);
    expect(meta.step).toBe(12000);
  });

  it('a fresh export of that config is the same graph: 1088 nodes, same names, ops and edges, same initializers', () => {
    const fresh = exportBytes(freshCheckpoint(info.config, 0), 'raw');
    expect(fresh.nodes).toBe(1088);
    const shipped = onnx.ModelProto.decode(bytes).graph!;
    const ours = onnx.ModelProto.decode(fresh.bytes).graph!;
    const nodes = (g: typeof shipped) => g.node!.map((n) => `${n.name} ${n.opType} (${n.input!.join(', ')}) -> ${n.output!.join(', ')}`);
    const inits = (g: typeof shipped) => g.initializer!.map((t) => `${t.name} [${t.dims!.join(', ')}]`);
    expect(ours.name).toBe(shipped.name);
    expect(nodes(ours)).toEqual(nodes(shipped));
    expect(inits(ours)).toEqual(inits(shipped));
  });

  it('generating 1 image with 2 steps (seed 0, CPU, one thread) gives the same bytes as before', async () => {
    const model = await LiquidFlow.load(modelPath, { device: 'cpu', threads: 1 });
    try {
      expect(model.config).toEqual(CONFIG);
      const [image] = await model.generate({ count: 1, steps: 2, seed: 0 });
      const want = PNG.sync.read(readFileSync(GENERATED_PNG));
      expect([image.width, image.height]).toEqual([want.width, want.height]);
      let diff = 0;
      for (let i = 0; i < want.data.length; i++) diff = Math.max(diff, Math.abs(want.data[i] - image.data[i]));
      expect(diff).toBeLessThanOrEqual(1);
    } finally {
      await model.dispose();
    }
  });
});
