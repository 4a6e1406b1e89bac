// The second family end to end, as a user runs it (the built CLIs in child processes): liquidflow-train --arch
// liquiddiffusion --model_size tiny --img_size 16 trains a few steps on both engines (ort: the whole step as one ONNX
// graph; wasm: TF.js, which has no depthwise or Conv2D filter-gradient kernels there), and liquidflow-export writes
// it with --verify and a file the ONNX checker accepts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countParams, resolveConfig } from '@liquidflow/core';
import { loadCheckpoint } from '@liquidflow/checkpoint';
import { writeFashionMnistFixture } from './helpers';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const TRAIN = join(repo, 'packages/trainer/dist/cli.js');
const EXPORT = join(repo, 'packages/exporter/dist/cli.js');
const STEPS = 3;

const node = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: repo, encoding: 'utf8', timeout: 240_000 });

let tmp: string;
let data: string;
beforeAll(async () => {
  for (const cli of [TRAIN, EXPORT]) expect(existsSync(cli), `${cli} is missing: run npm run build`).toBe(true);
  tmp = await mkdtemp(join(tmpdir(), 'liquiddiffusion-'));
  data = await writeFashionMnistFixture(join(tmp, 'data'), 32);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('liquidflow-train --arch liquiddiffusion --model_size tiny --img_size 16', () => {
  const params = countParams(resolveConfig('tiny', { arch: 'liquiddiffusion', img_size: 16 }));

  for (const backend of ['ort', 'wasm'] as const) {
    it(`trains ${STEPS} steps on --backend ${backend}, and liquidflow-export --verify writes a checked ONNX file`, async () => {
      const out = join(tmp, backend);
      const r = node(TRAIN, [
        '--arch', 'liquiddiffusion', '--model_size', 'tiny', '--img_size', '16', '--dataset', 'fashion-mnist', '--data_dir', data,
        '--batch_size', '4', '--steps', String(STEPS), '--log_every', '1', '--sample_count', '4', '--sample_steps', '2',
        '--backend', backend, '--seed', '1', '--out', out,
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`liquiddiffusion tiny 16px, ${params.toLocaleString('en-US')} params`);
      expect(r.stderr).toContain(backend === 'ort' ? 'training engine: ort' : 'training engine: TensorFlow.js wasm');
      expect(r.stderr).not.toMatch(/kernel .* not registered|backpropfilter|not yet implemented/i);

      const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(rows.map((row) => row.step)).toEqual([1, 2, 3]);
      for (const row of rows) expect(Number.isFinite(row.loss) && row.loss > 0 && Number.isFinite(row.grad_norm) && row.grad_norm > 0, JSON.stringify(row)).toBe(true);
      const ckpt = await loadCheckpoint(out);
      expect([ckpt.config.arch, ckpt.config.variant, ckpt.config.img_size, ckpt.step]).toEqual(['liquiddiffusion', 'tiny', 16, STEPS]);
      expect(ckpt.optimizer?.step).toBe(STEPS);

      const model = join(out, 'model.onnx');
      const e = node(EXPORT, [out, model, '--verify']);
      expect(e.status, e.stderr).toBe(0);
      expect(e.stdout).toContain('liquiddiffusion tiny');
      expect(e.stdout).toContain('verify passed (tolerance 0.0001)');
      const err = Number(/max_abs_err=(\S+)/.exec(e.stdout)?.[1]);
      expect(err).toBeLessThanOrEqual(1e-4);
      const checked = execFileSync('/usr/bin/python3', ['-c', 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.opset_import[0].version)', model], { encoding: 'utf8' });
      expect(checked.trim()).toBe('17');
    }, 300_000);
  }
});
