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
    for (const flag of ['--model_size', '--img_size', '--steps', '--seed', '--out']) expect(r.stdout).toContain(flag);
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
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(out);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'ema.bin', 'model.json', 'weights.bin']);
    const ck = await loadCheckpoint(out);
    expect(ck.step).toBe(0);
    expect(ck.seed).toBe(0);
    expect(ck.config.img_size).toBe(32);
    expect(ck.config.variant).toBe('tiny');
    expect(ck.config.dim).toBe(VARIANTS.tiny.config.dim);
    // A fresh checkpoint's EMA equals its weights.
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const k of Object.keys(ck.weights)) expect(bytes(ck.ema[k]).equals(bytes(ck.weights[k])), k).toBe(true);
    expect((await readFile(join(out, 'ema.bin'))).equals(await readFile(join(out, 'weights.bin')))).toBe(true);
  });

  it('same seed gives byte-identical weights.bin, a different seed different bytes', async () => {
    const args = (seed: number, dir: string) => ['--model_size', 'tiny', '--img_size', '32', '--steps', '0', '--seed', String(seed), '--out', join(tmp, dir)];
    for (const [seed, dir] of [[7, 's7a'], [7, 's7b'], [8, 's8']] as const) expect(run(...args(seed, dir)).code).toBe(0);
    const a = await readFile(join(tmp, 's7a', 'weights.bin'));
    const b = await readFile(join(tmp, 's7b', 'weights.bin'));
    const c = await readFile(join(tmp, 's8', 'weights.bin'));
    expect(a.length).toBeGreaterThan(0);
    expect(a.equals(b)).toBe(true);
    expect(c.length).toBe(a.length);
    expect(a.equals(c)).toBe(false);
  });

  it('kebab-case flags and --flag=value work', async () => {
    const out = join(tmp, 'kebab');
    const r = run('--model-size', 'small', '--img-size=16', '--steps', '0', '--seed=3', `--out=${out}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
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

  it('--flag=value keeps a value that itself contains =', async () => {
    const out = join(tmp, 'with=equals');
    const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', `--out=${out}`);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'config.json'))).toBe(true);
  });
});
