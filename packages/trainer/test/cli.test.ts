// liquidflow-train, as a user runs it: the built dist/cli.js in a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCH_NAMES, LIQUIDFLOW_VARIANTS, type LiquidFlowConfig } from '@liquidflow/core';
import { loadCheckpoint } from '@liquidflow/checkpoint';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(repo, 'packages/trainer/dist/cli.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir (relative path -> bytes): a refused command must leave all of them byte-identical. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[join(e.parentPath ?? e.path, e.name).slice(dir.length)] = (await readFile(join(e.parentPath ?? e.path, e.name))).toString('base64');
  }
  return out;
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
    for (const flag of ['--arch', '--model_size', '--img_size', '--steps', '--seed', '--out', '--resume', '--init_from', '--data_dir', '--save_every', '--sample_every', '--log_every']) {
      expect(r.stdout).toContain(flag);
    }
    for (const v of Object.keys(LIQUIDFLOW_VARIANTS)) expect(r.stdout).toContain(v);
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

  it('--backend and --device name their valid values when given a wrong one', () => {
    const b = run('--backend', 'tpu', '--steps', '3', '--out', join(tmp, 'never-backend'));
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/unknown backend 'tpu': expected auto or one of tensorflow-gpu, ort, tensorflow, wasm, cpu/);
    const d = run('--device', 'tpu', '--steps', '3', '--out', join(tmp, 'never-device'));
    expect(d.code).not.toBe(0);
    expect(d.stderr).toContain("--device must be one of auto, cpu, cuda, got 'tpu'");
    expect(existsSync(join(tmp, 'never-backend')) || existsSync(join(tmp, 'never-device'))).toBe(false);
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
    for (const v of Object.keys(LIQUIDFLOW_VARIANTS)) expect(r.stderr).toContain(v);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(existsSync(join(tmp, 'nope'))).toBe(false);
  });

  it('--arch nope fails naming the known families and writes nothing', () => {
    const r = run('--arch', 'nope', '--steps', '0', '--out', join(tmp, 'arch-nope'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`liquidflow-train: --arch: unknown arch "nope": known families are ${ARCH_NAMES.join(', ')}`);
    expect(r.stderr.length).toBeLessThan(2000);
    expect(existsSync(join(tmp, 'arch-nope'))).toBe(false);
  });

  it('--arch liquidflow is the default: the checkpoint it writes is the same as without it', async () => {
    const a = join(tmp, 'arch-default');
    const b = join(tmp, 'arch-explicit');
    expect(run('--img_size', '16', '--steps', '0', '--out', a).code).toBe(0);
    expect(run('--arch', 'liquidflow', '--img_size', '16', '--steps', '0', '--out', b).code).toBe(0);
    expect((await loadCheckpoint(a)).config.arch).toBe('liquidflow');
    expect(await snapshot(b)).toEqual(await snapshot(a));
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
    expect(meta.files.manifest).toBe('model-00000000.json');
    expect(Object.keys(meta.files.sha256).sort()).toEqual(['ema-00000000.bin', 'weights-00000000.bin']);
    expect(meta.optimizer).toBeUndefined();
    const ck = await loadCheckpoint(out);
    expect(ck.step).toBe(0);
    expect(ck.seed).toBe(0);
    expect(ck.optimizer).toBeUndefined();
    expect(ck.config.img_size).toBe(32);
    expect(ck.config.variant).toBe('tiny');
    expect((ck.config as LiquidFlowConfig).dim).toBe(LIQUIDFLOW_VARIANTS.tiny.config.dim);
    // A fresh checkpoint's EMA equals its weights.
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const k of Object.keys(ck.weights)) expect(bytes(ck.ema[k]).equals(bytes(ck.weights[k])), k).toBe(true);
    expect((await readFile(join(out, 'ema-00000000.bin'))).equals(await readFile(join(out, 'weights-00000000.bin')))).toBe(true);
  });

  it('--steps 0 twice into the same directory: refused the second time; with --force it leaves one checkpoint', async () => {
    const out = join(tmp, 'twice');
    expect(run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--seed', '1', '--out', out).code).toBe(0);
    const before = await snapshot(out);
    const refused = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--seed', '2', '--out', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`--out ${out} is not empty`);
    expect(refused.stderr).toContain(`--resume ${out}`);
    expect(refused.stderr).toContain('--force');
    expect(await snapshot(out)).toEqual(before);
    expect(run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--seed', '2', '--out', out, '--force').code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'ema-00000000.bin', 'model-00000000.json', 'weights-00000000.bin']);
    expect((await loadCheckpoint(out)).seed).toBe(2);
  });

  describe('--out of a new run must be missing or empty (or --force)', () => {
    it('a folder with an unrelated config.json and other files: refused, every file byte-identical, naming them', async () => {
      const out = join(tmp, 'unrelated');
      await mkdir(join(out, 'sub'), { recursive: true });
      await writeFile(join(out, 'config.json'), '{"name": "my web app"}\n');
      await writeFile(join(out, 'notes.txt'), 'keep me');
      await writeFile(join(out, 'sub', 'loss.png'), 'not a png');
      const before = await snapshot(out);
      const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--out', out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^liquidflow-train: --out .*unrelated is not empty \(it holds config\.json, notes\.txt, sub\)/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await snapshot(out)).toEqual(before);
      expect(await readdir(out)).toEqual(expect.arrayContaining(['config.json', 'notes.txt', 'sub']));
      expect((await readdir(out)).length).toBe(3);
    });

    it('another run\'s checkpoint is not overwritten by --init_from or by --resume elsewhere with --out pointing at it', async () => {
      const other = join(tmp, 'other-run');
      const src = join(tmp, 'src-run');
      for (const d of [other, src]) expect(run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--out', d).code).toBe(0);
      const before = await snapshot(other);
      const r1 = run('--init_from', src, '--img_size', '32', '--steps', '0', '--out', other);
      expect(r1.code).toBe(1);
      expect(r1.stderr).toContain(`--out ${other} is not empty`);
      const r2 = run('--resume', src, '--steps', '3', '--out', other);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toContain(`--out ${other} is not empty`);
      expect(await snapshot(other)).toEqual(before);
    });

    it('a file as --out is refused even with --force; an existing empty folder is accepted', async () => {
      const file = join(tmp, 'a-file');
      await writeFile(file, 'data');
      for (const extra of [[], ['--force']]) {
        const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--out', file, ...extra);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`--out ${file}: exists and is not a folder`);
      }
      expect(await readFile(file, 'utf8')).toBe('data');
      const empty = join(tmp, 'empty-out');
      await mkdir(empty);
      expect(run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', '--out', empty).code).toBe(0);
      expect((await loadCheckpoint(empty)).step).toBe(0);
    });
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

  it('absurd sizes fail before any allocation, naming the flag or field, the value and the limit', () => {
    for (const [flags, parts] of [
      [['--img_size', '0'], ['--img_size must be a positive integer, got 0']],
      [['--img_size', '1e9'], ["'img_size'", '1000000000', 'limit of 2048']],
      [['--batch_size', '1e9'], ['--batch_size is 1000000000, above the limit of 4096']],
      [['--sample_count', '1e9'], ['--sample_count is 1000000000, above the limit of 1024']],
      [['--sample_steps', '1e9'], ['--sample_steps is 1000000000, above the limit of 10000']],
      [['--ema_decay', '2'], ['--ema_decay is 2, above the limit of 1']],
      [['--lr', '-1'], ['--lr must be a non-negative number, got -1']],
    ] as const) {
      const r = run('--model_size', 'tiny', '--img_size', '16', '--steps', '0', ...flags, '--out', join(tmp, 'never5'));
      expect(r.code, flags.join(' ')).toBe(1);
      for (const p of parts) expect(r.stderr, flags.join(' ')).toContain(p);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(tmp, 'never5'))).toBe(false);
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

describe("liquidflow-train: DiM's options (--pad_tokens, --smoothers, --scan_schedule)", () => {
  it('are listed in --help and set the new run\'s config (kebab-case too); absent, the config is today\'s', async () => {
    const help = run('--help').stdout;
    for (const flag of ['--pad_tokens', '--smoothers', '--scan_schedule']) expect(help).toContain(flag);
    const out = join(tmp, 'dim-all');
    const r = run('--img_size', '16', '--steps', '0', '--pad_tokens', '3', '--smoothers', 'tokens', '--scan-schedule', 'dim', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const ck = await loadCheckpoint(out);
    const cfg = ck.config as LiquidFlowConfig;
    expect({ pad_tokens: cfg.pad_tokens, smoothers: cfg.smoothers, scan_schedule: cfg.scan_schedule }).toEqual({ pad_tokens: 3, smoothers: 'tokens', scan_schedule: 'dim' });
    expect(ck.weights.pad_tokens.length).toBe(3 * cfg.dim);
    expect(ck.weights['last_conv.weight']).toBeDefined();
    expect(ck.weights['refine_conv.weight']).toBeUndefined();
    const plain = join(tmp, 'dim-none');
    expect(run('--img_size', '16', '--steps', '0', '--out', plain).code).toBe(0);
    const p = (await loadCheckpoint(plain)).config as LiquidFlowConfig;
    // tiny's defaults: no padding, pixel smoothers, DiM's scan schedule (models/variants/liquidflow/tiny.json).
    expect({ pad_tokens: p.pad_tokens, smoothers: p.smoothers, scan_schedule: p.scan_schedule }).toEqual({ pad_tokens: 0, smoothers: 'pixels', scan_schedule: 'dim' });
  });

  it('a bad value fails naming the flag and the allowed values, writing nothing', () => {
    const cases: [string[], string][] = [
      [['--smoothers', 'pixel'], "--smoothers must be one of pixels, tokens, got 'pixel'"],
      [['--scan_schedule', 'zigzag'], "--scan_schedule must be one of snake, dim, got 'zigzag'"],
      [['--pad_tokens', '-1'], '--pad_tokens must be a non-negative integer, got -1'],
      [['--pad_tokens', '99'], '--pad_tokens is 99, above the limit of 16'],
      [['--arch', 'liquiddiffusion', '--pad_tokens', '2'], '--pad_tokens is not an option of --arch liquiddiffusion'],
    ];
    for (const [args, message] of cases) {
      const r = run('--img_size', '16', '--steps', '0', ...args, '--out', join(tmp, 'dim-bad'));
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
      expect(existsSync(join(tmp, 'dim-bad'))).toBe(false);
    }
  });

  it('--init_from keeps them (padding tokens carried over unchanged) and refuses a different value; so does --resume', async () => {
    const src = join(tmp, 'dim-src');
    expect(run('--img_size', '16', '--steps', '0', '--pad_tokens', '2', '--scan_schedule', 'dim', '--out', src).code).toBe(0);
    const up = join(tmp, 'dim-up');
    const r = run('--init_from', src, '--img_size', '32', '--steps', '0', '--out', up);
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = [await loadCheckpoint(src), await loadCheckpoint(up)];
    expect(b.config).toEqual({ ...a.config, img_size: 32 });
    expect(Array.from(b.weights.pad_tokens)).toEqual(Array.from(a.ema.pad_tokens));
    const r2 = run('--init_from', src, '--img_size', '32', '--pad_tokens', '3', '--steps', '0', '--out', join(tmp, 'dim-never'));
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("--pad_tokens 3 does not match the checkpoint's pad_tokens 2 (--init_from keeps the architecture)");
    const r3 = run('--resume', src, '--scan_schedule', 'snake', '--steps', '3');
    expect(r3.code).toBe(1);
    expect(r3.stderr).toContain(`--scan_schedule snake does not match the checkpoint's scan_schedule "dim"`);
    expect(existsSync(join(tmp, 'dim-never'))).toBe(false);
  });
});
