// runtime-node against models that are broken on purpose: what the sampler relies on (x, t, v as float32, x's shape
// matching the metadata, all weights in the file) is refused at load with the file named; onnxruntime's own refusals
// come wrapped with the file and without its C++ source paths; NaN output is an error, not black images.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError, LiquidFlow, ModelFileError, NonFiniteOutputError } from '@liquidflow/runtime-node';
import { BAD_MODELS, goodModel, nanModel, unknownOpModel } from './bad-models.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const cli = join(root, 'packages/runtime-node/dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'lf-node-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, bytes: Uint8Array) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: Error) => e);
/** No onnxruntime source locations ('tensorprotoutils.cc:461', '/onnxruntime_src/...') in a user-facing message. */
const NO_ENGINE_PATHS = /onnxruntime_src|\.(cc|h|cpp):\d+/;

describe('runtime-node load-time checks', () => {
  it('the good export still loads and generates finite images', async () => {
    const lf = await LiquidFlow.load(write('good.onnx', goodModel()), { device: 'cpu' });
    const [img] = await lf.generate({ count: 2, steps: 2 });
    expect(img.rgb.every(Number.isFinite)).toBe(true);
    await lf.dispose();
  });

  for (const [name, bad] of Object.entries(BAD_MODELS)) {
    it(`refuses ${name} at load with a ModelFileError naming the file and the problem`, async () => {
      const path = write(`${name}.onnx`, bad.bytes());
      const e = await failure(LiquidFlow.load(path, { device: 'cpu' }));
      expect(e).toBeInstanceOf(ModelFileError);
      expect(e.message.startsWith(`${path}: `), e.message).toBe(true);
      for (const words of bad.says) expect(e.message).toContain(words);
      expect(e.message).not.toMatch(NO_ENGINE_PATHS);
    });
  }

  it("wraps onnxruntime's refusal of a model in an EngineError naming the file, without its source paths", async () => {
    const path = write('bogus-op.onnx', unknownOpModel());
    const e = await failure(LiquidFlow.load(path, { device: 'cpu' }));
    expect(e).toBeInstanceOf(EngineError);
    expect(e.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: onnxruntime could not open the model: .*No Op registered for Bogus`));
    expect(e.message).not.toMatch(NO_ENGINE_PATHS);
    // 'auto' falls back to the CPU the same way, and says the same.
    const auto = await failure(LiquidFlow.load(path, { device: 'auto' }));
    expect(auto).toBeInstanceOf(EngineError);
  });

  it('a model with NaN weights fails to generate with a NonFiniteOutputError instead of black images', async () => {
    const path = write('nan.onnx', nanModel());
    const lf = await LiquidFlow.load(path, { device: 'cpu' });
    const e = await failure(lf.generate({ count: 2, steps: 2 }));
    expect(e).toBeInstanceOf(NonFiniteOutputError);
    expect(e.message).toBe(`${path}: the model produced ${2 * 3 * 16 * 16} NaN and 0 infinite values (in images 1, 2 of 2), which would be black images; ` +
      'its weights probably hold NaN or Inf (for example from a diverged training run)');
    await lf.dispose();
  });
});

describe('liquidflow-generate with a bad model', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });

  it('exits 1 naming the file and the problem, and leaves the previous --out byte-identical', () => {
    const previous = Buffer.from('the previous grid');
    const out = join(dir, 'grid.png');
    for (const [file, words] of [
      [write('cli-nan.onnx', nanModel()), 'NaN'],
      [write('cli-size.onnx', BAD_MODELS['x-size-32'].bytes()), "input 'x' has shape [N, 3, 32, 32]"],
      [write('cli-bogus.onnx', unknownOpModel()), 'onnxruntime could not open the model'],
    ] as const) {
      writeFileSync(out, previous);
      const r = run([file, '--count', '1', '--steps', '1', '--out', out]);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(`liquidflow-generate: ${file}: `);
      expect(r.stderr).toContain(words);
      expect(r.stderr).not.toMatch(NO_ENGINE_PATHS);
      expect(readFileSync(out).equals(previous)).toBe(true);
    }
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});
