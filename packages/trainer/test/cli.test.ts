// liquidflow-train, as a user runs it: the built dist/cli.js in a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VARIANTS } from '@liquidflow/core';
import { loadCheckpoint } from '@liquidflow/trainer';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(repo, 'packages/trainer/dist/cli.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
beforeAll(async () => {
  expect(existsSync(CLI), `${CLI} is missing: run npm run build`).toBe(true);
  tmp = await mkdtemp(join(tmpdir(), 'liquidflow-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('liquidflow-train CLI', () => {
  it('--help exits 0 and lists the flags', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    for (const flag of ['--model_size', '--img_size', '--steps', '--seed', '--out', '--resume', '--init_from', '--data_dir', '--save_every', '--sample_every', '--log_every']) {
      expect(r.stdout).toContain(flag);
    }
    for (const v of Object.keys(VARIANTS)) expect(r.stdout).toContain(v);
  });

  it('an unknown flag exits non-zero, names it, and prints no stack trace', () => {
    const r = run('--model_size', 'tiny', '--bogus_flag', '3', '--out', join(tmp, 'never'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--bogus_flag');
    expect(r.stderr).toContain('--model_size'); // lists the known flags
    expect(r.stderr.length).toBeLessThan(2000);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('a flag without a value fails naming it', () => {
    const r = run('--out');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--out');
    expect(r.stderr.length).toBeLessThan(2000);
  });

  it('--model_size nope fails naming the valid variants', () => {
    const r = run('--model_size', 'nope', '--steps', '0', '--out', join(tmp, 'nope'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nope');
    for (const v of Object.keys(VARIANTS)) expect(r.stderr).toContain(v);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(existsSync(join(tmp, 'nope'))).toBe(false);
  });

  it('--img_size that is not a multiple of the patch fails naming both', () => {
    const r = run('--model_size', 'tiny', '--img_size', '30', '--steps', '0', '--out', join(tmp, 'bad-img'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/img_size 30 is not a multiple of patch_size 4/);
    expect(existsSync(join(tmp, 'bad-img'))).toBe(false);
  });

  it('--steps 0 writes a checkpoint that loadCheckpoint accepts', async () => {
    const out = join(tmp, 'ckpt');
    const r = run('--model_size', 'tiny', '--img_size', '32', '--steps', '0', '--seed', '0', '--out', out);
    expect(r.code).toBe(0);
    // Progress and messages go to stderr: one line naming the directory, no warnings or stack traces.
    expect(r.stderr).toContain(`wrote ${out}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect((await readdir(out)).sort()).toEqual(['config.json', 'ema-00000000.bin', 'model-00000000.json', 'weights-00000000.bin']);
    const meta = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(meta.files).toEqual({ manifest: 'model-00000000.json' });
    expect(meta.optimizer).toBeUndefined();
    const ck = await loadCheckpoint(out);
    expect(ck.step).toBe(0);
    expect(ck.seed).toBe(0);
    expect(ck.optimizer).toBeUndefined();
    expect(ck.config.img_size).toBe(32);
    expect(ck.config.variant).toBe('tiny');
    expect(ck.config.dim).toBe(VARIANTS.tiny.config.dim);
    // A fresh checkpoint's EMA equals its weights.
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const k of Object.keys(ck.weights)) expect(bytes(ck.ema[k]).equals(bytes(ck.weights[k])), k).toBe(true);
    expect((await readFile(join(out, 'ema-00000000.bin'))).equals(await readFile(join(out, 'weights-00000000.bin')))).toBe(true);
  });

  it('--steps 0 twice into the same directory leaves one checkpoint', async () => {
    const out = join(tmp, 'twice');
    for (const seed of ['1', '2']) expect(run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--seed', seed, '--out', out).code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'ema-00000000.bin', 'model-00000000.json', 'weights-00000000.bin']);
    expect((await loadCheckpoint(out)).seed).toBe(2);
  });

  it('same seed gives byte-identical weights-00000000.bin, a different seed different bytes', async () => {
    const args = (seed: number, dir: string) => ['--model_size', 'tiny', '--img_size', '32', '--steps', '0', '--seed', String(seed), '--out', join(tmp, dir)];
    for (const [seed, dir] of [[7, 's7a'], [7, 's7b'], [8, 's8']] as const) expect(run(...args(seed, dir)).code).toBe(0);
    const w = (dir: string) => readFile(join(tmp, dir, 'weights-00000000.bin'));
    const a = await w('s7a');
    const b = await w('s7b');
    const c = await w('s8');
    expect(a.length).toBeGreaterThan(0);
    expect(a.equals(b)).toBe(true);
    expect(c.length).toBe(a.length);
    expect(a.equals(c)).toBe(false);
  });

  it('kebab-case flags and --flag=value work', async () => {
    const out = join(tmp, 'kebab');
    const r = run('--model-size', 'small', '--img-size=16', '--steps', '0', '--seed=3', `--out=${out}`);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote ${out}`);
    const ck = await loadCheckpoint(out);
    expect(ck.config.variant).toBe('small');
    expect(ck.config.img_size).toBe(16);
    expect(ck.seed).toBe(3);
  });

  it('a negative --steps and a non-integer --seed fail with a message, writing nothing', () => {
    const r1 = run('--model_size', 'tiny', '--img_size', '32', '--seed', '1.5', '--out', join(tmp, 'never2'));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain('--seed');
    const r2 = run('--model_size', 'tiny', '--img_size', '32', '--steps', '-1', '--out', join(tmp, 'never2'));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain('--steps');
    expect(existsSync(join(tmp, 'never2'))).toBe(false);
  });

  it('a non-positive --batch_size or --save_every fails naming the flag, writing nothing', () => {
    for (const [flag, value] of [['--batch_size', '0'], ['--save_every', '-2'], ['--log_every', '1.5']]) {
      const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '3', flag, value, '--out', join(tmp, 'never3'));
      expect(r.code, flag).not.toBe(0);
      expect(r.stderr).toContain(`${flag} must be a positive integer`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(tmp, 'never3'))).toBe(false);
  });

  it('an unknown --dataset names the known ones; a --data_dir without the files names the missing file', () => {
    const r1 = run('--model_size', 'tiny', '--img_size', '16', '--steps', '3', '--dataset', 'nope', '--backend', 'cpu', '--out', join(tmp, 'never4'));
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain("unknown dataset 'nope'");
    expect(r1.stderr).toContain('fashion-mnist');
    const empty = join(tmp, 'empty-data');
    const r2 = run('--model_size', 'tiny', '--img_size', '16', '--steps', '3', '--data_dir', empty, '--backend', 'cpu', '--out', join(tmp, 'never4'));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain(join(empty, 'train-images-idx3-ubyte.gz'));
    expect(r2.stderr).toMatch(/missing/);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp, 'never4'))).toBe(false);
  });

  it('--flag=value keeps a value that itself contains =', async () => {
    const out = join(tmp, 'with=equals');
    const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', `--out=${out}`);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'config.json'))).toBe(true);
  });
});
