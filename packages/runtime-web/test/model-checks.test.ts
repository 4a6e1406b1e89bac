// runtime-web (in Node, onnxruntime-web's WASM build) against models broken on purpose, served over HTTP: the same
// load-time checks as runtime-node (one reader in core), naming the URL; onnxruntime-web's refusals wrapped with the
// URL and without its C++ source paths; NaN output an error, not black images.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError, LiquidFlow, ModelFileError, NonFiniteOutputError } from '@liquidflow/runtime-web';
import { type StaticServer, startServer } from '../../../examples/web/serve.mjs';
import { BAD_MODELS, goodModel, nanModel, unknownOpModel } from '../../runtime-node/test/bad-models.js';

let dir = '';
let server: StaticServer | undefined;
const url = (name: string) => `${server?.url}/models/${name}.onnx`;
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: Error) => e);
const NO_ENGINE_PATHS = /onnxruntime_src|\.(cc|h|cpp):\d+/;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lf-web-checks-'));
  writeFileSync(join(dir, 'good.onnx'), goodModel());
  for (const [name, bad] of Object.entries(BAD_MODELS)) writeFileSync(join(dir, `${name}.onnx`), bad.bytes());
  writeFileSync(join(dir, 'bogus-op.onnx'), unknownOpModel());
  writeFileSync(join(dir, 'nan.onnx'), nanModel());
  server = await startServer({ mounts: { '/models/': dir } });
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('runtime-web load-time checks', () => {
  it('the good export still loads and generates', async () => {
    const lf = await LiquidFlow.load(url('good'), { device: 'wasm', cache: false });
    expect(await lf.generate({ count: 1, steps: 1 })).toHaveLength(1);
    await lf.dispose();
  });

  it('refuses every bad model at load with a ModelFileError naming the URL and the problem', async () => {
    for (const [name, bad] of Object.entries(BAD_MODELS)) {
      const e = await failure(LiquidFlow.load(url(name), { device: 'wasm', cache: false }));
      expect(e, name).toBeInstanceOf(ModelFileError);
      expect(e.message.startsWith(`${url(name)}: `), e.message).toBe(true);
      for (const words of bad.says) expect(e.message, name).toContain(words);
    }
  });

  it("wraps onnxruntime-web's refusal in an EngineError naming the URL, without its source paths", async () => {
    const e = await failure(LiquidFlow.load(url('bogus-op'), { device: 'wasm', cache: false }));
    expect(e).toBeInstanceOf(EngineError);
    expect(e.message.startsWith(`${url('bogus-op')}: onnxruntime could not open the model: `), e.message).toBe(true);
    expect(e.message).toContain('Bogus');
    expect(e.message).not.toMatch(NO_ENGINE_PATHS);
  });

  it('a model with NaN weights fails to generate with a NonFiniteOutputError naming the URL', async () => {
    const lf = await LiquidFlow.load(url('nan'), { device: 'wasm', cache: false });
    const e = await failure(lf.generate({ count: 1, steps: 2 }));
    expect(e).toBeInstanceOf(NonFiniteOutputError);
    expect(e.message).toContain(`${url('nan')}: the model produced ${3 * 16 * 16} NaN and 0 infinite values (in image 1 of 1), which would be black images`);
    await lf.dispose();
  });
});
