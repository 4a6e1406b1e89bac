// The newcomer's path: liquidflow-train writes a checkpoint, liquidflow-export writes the .onnx and --verify passes.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, truncateSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeModel } from '@liquidflow/exporter';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const trainCli = join(root, 'packages/trainer/dist/cli.js');
const exportCli = join(root, 'packages/exporter/dist/cli.js');
const run = (cli: string, args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });

describe('liquidflow-export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lf-export-'));
  const ckpt = join(dir, 'ckpt');

  it('exports a fresh checkpoint and --verify passes', () => {
    expect(run(trainCli, ['--model_size', 'tiny', '--img_size', '32', '--steps', '0', '--seed', '0', '--out', ckpt]).status).toBe(0);
    const out = join(dir, 'tiny.onnx');
    const r = run(exportCli, [ckpt, out, '--verify']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*tiny\.onnx: \d+ nodes, [\d,]+ params, [\d,]+ bytes/);
    const m = /max_abs_err=([0-9.e+-]+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(1e-4);
    expect(statSync(out).size).toBeGreaterThan(1e6);
  });

  it('exports the raw weights with --weights raw', () => {
    const out = join(dir, 'raw.onnx');
    const r = run(exportCli, [ckpt, out, '--weights', 'raw']);
    expect(r.status, r.stderr).toBe(0);
    expect(decodeModel(new Uint8Array(readFileSync(out))).metadata['liquidflow.weights']).toBe('raw');
  });

  it('names the file and the problem for a truncated checkpoint, and writes nothing', () => {
    const bad = join(dir, 'bad');
    expect(run(trainCli, ['--img_size', '32', '--steps', '0', '--out', bad]).status).toBe(0);
    const bin = join(bad, readdirSync(bad).find((f) => /^ema-\d{8}\.bin$/.test(f)) as string);
    truncateSync(bin, statSync(bin).size - 100);
    const out = join(dir, 'bad.onnx');
    const r = run(exportCli, [bad, out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(bin);
    expect(r.stderr).toMatch(/truncated/);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(existsSync(out)).toBe(false);
  });

  it('a full disk while writing the .onnx keeps the previous file byte-identical and leaves no temp file', () => {
    const out = join(dir, 'full', 'model.onnx');
    mkdirSync(join(dir, 'full'));
    const previous = Buffer.from('a previous good export');
    writeFileSync(out, previous);
    const preload = pathToFileURL(join(root, 'packages/core/test/fixtures/enospc-preload.mjs')).href;
    const r = spawnSync(process.execPath, ['--import', preload, exportCli, ckpt, out], { encoding: 'utf8', cwd: root });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`liquidflow-export: cannot write ${out}: ENOSPC`);
    expect(readFileSync(out).equals(previous)).toBe(true);
    expect(readdirSync(join(dir, 'full'))).toEqual(['model.onnx']);
  });

  it('kill -9 at any moment of an export leaves the previous file or a whole new one, never a torn one', async () => {
    const out = join(dir, 'killed', 'model.onnx');
    mkdirSync(join(dir, 'killed'));
    const previous = Buffer.from('a previous good export');
    writeFileSync(out, previous);
    // Delays spread over start-up, graph building and the 22 MB write; each round ends in one of the two states.
    for (const delayMs of [300, 700, 1000, 1300, 1600, 2000]) {
      const child = spawn(process.execPath, [exportCli, ckpt, out], { cwd: root, stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      const bytes = readFileSync(out);
      // Either untouched, or a whole model (a torn protobuf fails to decode).
      if (!bytes.equals(previous)) expect(decodeModel(new Uint8Array(bytes)).metadata['liquidflow.weights'], `after a kill at ${delayMs} ms`).toBe('ema');
    }
  }, 60_000);

  it('an output path that is a folder fails naming it and leaves no temp file beside it', () => {
    const parent = join(dir, 'onto-dir');
    mkdirSync(join(parent, 'model.onnx'), { recursive: true });
    const r = run(exportCli, [ckpt, join(parent, 'model.onnx')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(join(parent, 'model.onnx'));
    expect(readdirSync(parent)).toEqual(['model.onnx']);
    expect(readdirSync(join(parent, 'model.onnx'))).toEqual([]);
  });

  it('rejects a missing checkpoint and unknown options clearly', () => {
    const missing = run(exportCli, [join(dir, 'nope'), join(dir, 'x.onnx')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope: checkpoint directory not found/);
    const unknown = run(exportCli, [ckpt, join(dir, 'x.onnx'), '--fast']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown flag '--fast'; known flags: --weights, --img_size, --dtype, --upsample_guidance, --guidance_eta, --guidance_scale, --verify, --batch/);
  });
});
