// Checkpoint directories (format in packages/checkpoint/README.md): an exact round trip of raw and EMA weights and the
// optimizer state, a clear error (file path + problem) for every way a directory can be broken, and the commit
// protocol: step-stamped weight files first, config.json (which names them) replaced last, old files deleted after.
// A crash at any point leaves a config.json that names complete files.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { paramSpecs, resolveConfig, sizeOf } from '@liquidflow/core';
import {
  CheckpointError, freshCheckpoint, loadCheckpoint, readCheckpointConfig, saveCheckpoint, type Checkpoint, type OptimizerState,
} from '@liquidflow/checkpoint';

// Fault injection: when failRenameTo is set, renaming a temp file onto a path with that basename fails, as if the
// process died right before that rename. Every rename and rm is recorded (basenames) so the order can be checked.
// Every path opened or resolved is recorded too, so a test can prove a file outside the checkpoint was never read.
const fault = vi.hoisted(() => ({ failRenameTo: null as string | null, events: [] as string[], opened: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const base = (p: unknown) => String(p).split('/').pop() as string;
  const rename = async (from: import('node:fs').PathLike, to: import('node:fs').PathLike) => {
    if (fault.failRenameTo !== null && base(to) === fault.failRenameTo && String(from).includes('.tmp-')) {
      throw Object.assign(new Error(`injected failure renaming ${from} -> ${to}`), { code: 'EIO' });
    }
    fault.events.push(`rename ${base(to)}`);
    return real.rename(from, to);
  };
  const rm = async (path: import('node:fs').PathLike, opts?: import('node:fs').RmOptions) => {
    fault.events.push(`rm ${base(path)}`);
    return real.rm(path, opts);
  };
  const open = (async (path: import('node:fs').PathLike, ...rest: unknown[]) => {
    fault.opened.push(String(path));
    return (real.open as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof real.open;
  const readFile = (async (path: unknown, ...rest: unknown[]) => {
    fault.opened.push(String(path));
    return (real.readFile as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof real.readFile;
  return { ...real, rename, rm, open, readFile, default: { ...real, rename, rm, open, readFile } };
});

const cfg = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
const STEP = 1234;
const TAG = '00001234';
let root: string;
let good: string; // a saved checkpoint with optimizer state, copied for each corruption test
let ckpt: Checkpoint;

const names = () => paramSpecs(cfg).map((s) => s.name);
const totalParams = () => paramSpecs(cfg).reduce((s, p) => s + sizeOf(p.shape), 0);
const tag = (step: number) => String(step).padStart(8, '0');
const stamped = (step: number, optimizer = true) =>
  [`ema-${tag(step)}.bin`, `model-${tag(step)}.json`, ...(optimizer ? [`optimizer-${tag(step)}.bin`] : []), `weights-${tag(step)}.bin`];

function filled(seedish: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const s of paramSpecs(cfg)) out[s.name] = Float32Array.from({ length: sizeOf(s.shape) }, (_, i) => Math.sin(i * 0.37 + seedish) * 0.1 + seedish);
  return out;
}

/** A checkpoint whose EMA, m and v all differ from the raw weights, so a swap of any two would be caught. */
function makeCheckpoint(step = STEP, withOptimizer = true): Checkpoint {
  const c = freshCheckpoint(cfg, 17);
  for (const [k, v] of Object.entries(c.ema)) for (let i = 0; i < v.length; i++) v[i] = v[i] * 0.5 + 0.25 + i * 1e-3 + k.length;
  const optimizer: OptimizerState = { step: 77, m: filled(1), v: filled(2) };
  return { ...c, step, seed: 17, ...(withOptimizer ? { optimizer } : {}), train: { lr: 0.25, batch_size: 4 } };
}

let n = 0;
async function copyOfGood(): Promise<string> {
  const dir = join(root, `case-${n++}`);
  await cp(good, dir, { recursive: true });
  return dir;
}

async function loadError(dir: string): Promise<Error> {
  try {
    await loadCheckpoint(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as Error;
  }
  throw new Error(`loadCheckpoint(${dir}) succeeded; expected an error`);
}

async function editJson(path: string, edit: (j: any) => void): Promise<void> {
  const j = JSON.parse(await readFile(path, 'utf8'));
  edit(j);
  await writeFile(path, JSON.stringify(j));
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

/** Records the weight files' current checksums in config.json: as if the file had been saved this way. */
async function rehash(dir: string): Promise<void> {
  const sums: Record<string, string> = {};
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.bin'))) sums[f] = createHash('sha256').update(await readFile(join(dir, f))).digest('hex');
  await editJson(join(dir, 'config.json'), (j) => (j.files.sha256 = sums));
}
const tempFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.includes('.tmp-'));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'liquidflow-ckpt-'));
  good = join(root, 'good');
  ckpt = makeCheckpoint();
  await saveCheckpoint(good, ckpt);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('round trip', () => {
  it('writes the documented step-stamped files and config.json naming the manifest', async () => {
    expect((await readdir(good)).sort()).toEqual(['config.json', ...stamped(STEP)].sort());
    const total = totalParams();
    expect((await readFile(join(good, `weights-${TAG}.bin`))).length).toBe(total * 4);
    expect((await readFile(join(good, `ema-${TAG}.bin`))).length).toBe(total * 4);
    expect((await readFile(join(good, `optimizer-${TAG}.bin`))).length).toBe(2 * total * 4);
    const meta = await readJson(join(good, 'config.json'));
    expect(meta.format).toBe('liquidflow-checkpoint');
    expect(meta.version).toBe(3);
    expect(meta.step).toBe(STEP);
    expect(Object.keys(meta.files).sort()).toEqual(['manifest', 'sha256']);
    expect(meta.files.manifest).toBe(`model-${TAG}.json`);
    // One SHA-256 per weight file, of its bytes on disk.
    const bins = stamped(STEP).filter((f) => f.endsWith('.bin')).sort();
    expect(Object.keys(meta.files.sha256).sort()).toEqual(bins);
    for (const f of bins) expect(meta.files.sha256[f]).toBe(createHash('sha256').update(await readFile(join(good, f))).digest('hex'));
    expect(meta.optimizer).toEqual({ step: 77 });
    const manifest = await readJson(join(good, `model-${TAG}.json`));
    expect(manifest.weightsManifest.map((g: { paths: string[] }) => g.paths)).toEqual([[`weights-${TAG}.bin`], [`ema-${TAG}.bin`], [`optimizer-${TAG}.bin`]]);
    const optNames: string[] = manifest.weightsManifest[2].weights.map((w: { name: string }) => w.name);
    expect(optNames).toEqual([...names().map((k) => `adam_m/${k}`), ...names().map((k) => `adam_v/${k}`)]);
    expect(manifest.weightsManifest[1].weights.every((w: { name: string }) => w.name.startsWith('ema/'))).toBe(true);
  });

  it('raw and EMA weights, step, seed, config and train options come back exactly', async () => {
    const back = await loadCheckpoint(good);
    expect(back.config).toEqual(cfg);
    expect(back.step).toBe(STEP);
    expect(back.seed).toBe(17);
    expect(back.dir).toBe(good);
    expect(back.train).toEqual({ lr: 0.25, batch_size: 4 });
    expect(Object.keys(back.weights).sort()).toEqual([...names()].sort());
    expect(Object.keys(back.ema).sort()).toEqual([...names()].sort());
    for (const name of names()) {
      expect(back.weights[name], name).toEqual(ckpt.weights[name]);
      expect(back.ema[name], `ema ${name}`).toEqual(ckpt.ema[name]);
      expect(back.weights[name]).not.toEqual(back.ema[name]);
    }
  });

  it('optimizer state (m, v, step) comes back exactly', async () => {
    const back = await loadCheckpoint(good);
    expect(back.optimizer).toBeDefined();
    expect(back.optimizer!.step).toBe(77);
    for (const name of names()) {
      expect(back.optimizer!.m[name], `m ${name}`).toEqual(ckpt.optimizer!.m[name]);
      expect(back.optimizer!.v[name], `v ${name}`).toEqual(ckpt.optimizer!.v[name]);
    }
  });

  it('a checkpoint without optimizer state has no optimizer file and loads with optimizer undefined', async () => {
    const dir = join(root, 'no-opt');
    await saveCheckpoint(dir, makeCheckpoint(3, false));
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(3, false)].sort());
    const meta = await readJson(join(dir, 'config.json'));
    expect(meta.optimizer).toBeUndefined();
    const back = await loadCheckpoint(dir);
    expect(back.optimizer).toBeUndefined();
    expect(back.step).toBe(3);
  });

  it('readCheckpointConfig reads only config.json', async () => {
    const r = await readCheckpointConfig(good);
    expect(r.step).toBe(STEP);
    expect(r.seed).toBe(17);
    expect(r.manifest).toBe(`model-${TAG}.json`);
    expect(r.optimizerStep).toBe(77);
    expect(r.config).toEqual(cfg);
  });

  it('weights-<step>.bin is little-endian float32 in manifest order', async () => {
    const bytes = await readFile(join(good, `weights-${TAG}.bin`));
    const manifest = await readJson(join(good, `model-${TAG}.json`));
    let off = 0;
    for (const w of manifest.weightsManifest[0].weights.slice(0, 3)) {
      const vals = ckpt.weights[w.name];
      expect(bytes.readFloatLE(off * 4)).toBe(vals[0]);
      expect(bytes.readFloatLE((off + vals.length - 1) * 4)).toBe(vals[vals.length - 1]);
      off += vals.length;
    }
  });

  it('saving refuses a checkpoint with a missing weight, naming it, and writes nothing', async () => {
    const bad = makeCheckpoint();
    delete bad.weights['final.linear.weight'];
    await expect(saveCheckpoint(join(root, 'never'), bad)).rejects.toThrow(/final\.linear\.weight/);
    expect(await readdir(root)).not.toContain('never');
  });

  it('saving refuses a mis-sized optimizer moment, naming it', async () => {
    const bad = makeCheckpoint();
    bad.optimizer!.v['final.linear.bias'] = new Float32Array(1);
    await expect(saveCheckpoint(join(root, 'never2'), bad)).rejects.toThrow(/adam_v.*final\.linear\.bias/);
    expect(await readdir(root)).not.toContain('never2');
  });
});

describe('load errors name the file and the problem', () => {
  const configPath = (dir: string) => join(dir, 'config.json');
  const manifestPath = (dir: string) => join(dir, `model-${TAG}.json`);

  it('directory missing', async () => {
    const dir = join(root, 'does-not-exist');
    const e = await loadError(dir);
    expect(e.message).toContain(dir);
    expect(e.message).toMatch(/not found/);
  });

  it('config.json missing (only stamped files present)', async () => {
    const dir = await copyOfGood();
    await rm(configPath(dir));
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toMatch(/missing/);
  });

  it('config.json invalid JSON', async () => {
    const dir = await copyOfGood();
    await writeFile(configPath(dir), '{ "format": "liquidflow-checkpoint", ');
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toMatch(/invalid JSON/);
  });

  it("config.json with a wrong 'format'", async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.format = 'something-else'));
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toContain('something-else');
    expect(e.message).toMatch(/not a LiquidFlow checkpoint/);
  });

  it("config.json with a wrong 'version'", async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.version = 99));
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toMatch(/unsupported checkpoint version 99/);
  });

  for (const bad of [-1, 2.5, '7', null]) {
    it(`config.json with a bad 'step' (${JSON.stringify(bad)})`, async () => {
      const dir = await copyOfGood();
      await editJson(configPath(dir), (j) => (j.step = bad));
      const e = await loadError(dir);
      expect(e.message).toContain(configPath(dir));
      expect(e.message).toContain("'step'");
      expect(e.message).toContain(JSON.stringify(bad));
    });
  }

  it("config.json with a bad 'seed'", async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.seed = 'x'));
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toContain("'seed'");
  });

  it('config.json with an invalid config field names the field', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.config.d_state = 'eight'));
    const e = await loadError(dir);
    expect(e.message).toContain(configPath(dir));
    expect(e.message).toContain("'d_state'");
  });

  it("config.json's files.manifest names a missing file", async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.files.manifest = 'model-00000099.json'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'model-00000099.json'));
    expect(e.message).toMatch(/missing/);
  });

  for (const bad of [undefined, 'model.json', '../good/model-00001234.json', 42]) {
    it(`config.json's files.manifest is not a model-<step>.json name (${JSON.stringify(bad)})`, async () => {
      const dir = await copyOfGood();
      await editJson(configPath(dir), (j) => (bad === undefined ? delete j.files : (j.files.manifest = bad)));
      const e = await loadError(dir);
      expect(e.message).toContain(configPath(dir));
      expect(e.message).toContain("'files.manifest'");
    });
  }

  it('the manifest is invalid JSON', async () => {
    const dir = await copyOfGood();
    await writeFile(manifestPath(dir), '{"weightsManifest": [');
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/invalid JSON/);
  });

  for (const file of ['weights', 'ema', 'optimizer']) {
    it(`${file}-<step>.bin missing`, async () => {
      const dir = await copyOfGood();
      await rm(join(dir, `${file}-${TAG}.bin`));
      const e = await loadError(dir);
      expect(e.message).toContain(join(dir, `${file}-${TAG}.bin`));
      expect(e.message).toMatch(/missing/);
    });
  }

  it('weights-<step>.bin truncated', async () => {
    const dir = await copyOfGood();
    const path = join(dir, `weights-${TAG}.bin`);
    const size = (await readFile(path)).length;
    await truncate(path, size - 6);
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/truncated/);
    expect(e.message).toContain(String(size - 6));
    expect(e.message).toContain(String(size));
  });

  it('ema-<step>.bin too long', async () => {
    const dir = await copyOfGood();
    const path = join(dir, `ema-${TAG}.bin`);
    const bytes = await readFile(path);
    await writeFile(path, Buffer.concat([bytes, Buffer.alloc(8)]));
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/too long/);
    expect(e.message).toContain(String(bytes.length + 8));
    expect(e.message).toContain(String(bytes.length));
  });

  it('the manifest declares a wrong shape (same size) for one weight: names the weight and both shapes', async () => {
    const dir = await copyOfGood();
    const spec = paramSpecs(cfg).find((s) => s.shape.length === 2 && s.shape[0] !== s.shape[1])!;
    const swapped = [spec.shape[1], spec.shape[0]];
    await editJson(manifestPath(dir), (j) => {
      const w = j.weightsManifest[0].weights.find((x: { name: string }) => x.name === spec.name);
      w.shape = swapped;
    });
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toContain(`'${spec.name}'`);
    expect(e.message).toContain(`[${swapped}]`);
    expect(e.message).toContain(`[${spec.shape}]`);
  });

  it('the manifest declares a wrong shape (different size): the byte count no longer matches', async () => {
    const dir = await copyOfGood();
    await editJson(manifestPath(dir), (j) => {
      const w = j.weightsManifest[0].weights.find((x: { name: string }) => x.name === 'final.linear.bias');
      w.shape = [w.shape[0] + 1];
    });
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, `weights-${TAG}.bin`));
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/too long|truncated/);
  });

  it('a dtype other than float32', async () => {
    const dir = await copyOfGood();
    await editJson(manifestPath(dir), (j) => (j.weightsManifest[1].weights[3].dtype = 'float16'));
    const name = (await readJson(manifestPath(dir))).weightsManifest[1].weights[3].name;
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toContain(name);
    expect(e.message).toContain('float16');
  });

  it('config.json changed (dim) so it no longer matches the weights: names the weight and both shapes', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.config.dim = 64));
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    // Find which weight it names and check both shapes are the ones on disk and the ones the new config needs.
    const m = /weight '([^']+)' has shape \[([\d,]*)\], config\.json expects \[([\d,]*)\]/.exec(e.message);
    expect(m, e.message).not.toBeNull();
    const [, name, onDisk, wanted] = m!;
    const saved = paramSpecs(cfg).find((s) => s.name === name)!;
    const needed = paramSpecs({ ...cfg, dim: 64 }).find((s) => s.name === name)!;
    expect(onDisk).toBe(saved.shape.join());
    expect(wanted).toBe(needed.shape.join());
    expect(onDisk).not.toBe(wanted);
  });

  it('config.json changed (depth up) so a weight is missing: names it', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.config.depth = 3));
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/blocks\.2\.[\w.]+' is missing/);
  });

  it('config.json changed (depth down) so a weight is extra: names it', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.config.depth = 1));
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/blocks\.1\.[\w.]+' is not a parameter/);
  });

  it('a NaN in weights-<step>.bin names the weight', async () => {
    const dir = await copyOfGood();
    const entries: { name: string; shape: number[] }[] = (await readJson(manifestPath(dir))).weightsManifest[0].weights;
    // Put the NaN inside the third weight.
    const offset = sizeOf(entries[0].shape) + sizeOf(entries[1].shape) + 1;
    const path = join(dir, `weights-${TAG}.bin`);
    const bytes = await readFile(path);
    bytes.writeFloatLE(NaN, offset * 4);
    await writeFile(path, bytes);
    await rehash(dir); // a NaN saved with a valid checksum (the checksum test is below)
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(`'${entries[2].name}'`);
    expect(e.message).toContain('NaN');
  });

  it('an Inf in ema-<step>.bin names the EMA weight', async () => {
    const dir = await copyOfGood();
    const path = join(dir, `ema-${TAG}.bin`);
    const bytes = await readFile(path);
    bytes.writeFloatLE(-Infinity, bytes.length - 4);
    await writeFile(path, bytes);
    await rehash(dir); // a NaN saved with a valid checksum (the checksum test is below)
    const last = (await readJson(manifestPath(dir))).weightsManifest[1].weights.at(-1).name;
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(`'${last}'`);
    expect(e.message).toMatch(/Inf/);
  });

  it('an Inf in optimizer-<step>.bin names the moment', async () => {
    const dir = await copyOfGood();
    const path = join(dir, `optimizer-${TAG}.bin`);
    const bytes = await readFile(path);
    bytes.writeFloatLE(Infinity, 0);
    await writeFile(path, bytes);
    await rehash(dir); // a NaN saved with a valid checksum (the checksum test is below)
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(`'adam_m/${names()[0]}'`);
  });

  it('a missing optimizer group (config.json has optimizer.step, the manifest has no adam_* weights)', async () => {
    const dir = await copyOfGood();
    await editJson(manifestPath(dir), (j) => j.weightsManifest.splice(2, 1));
    await rm(join(dir, `optimizer-${TAG}.bin`));
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toMatch(/optimizer state 'adam_m\/[\w.]+' is missing/);
  });

  it('one missing optimizer moment names it', async () => {
    const dir = await copyOfGood();
    const victim = `adam_v/${names()[2]}`;
    await editJson(manifestPath(dir), (j) => {
      const g = j.weightsManifest[2];
      const w = g.weights.find((x: { name: string }) => x.name === victim);
      w.name = 'adam_v/not-a-param';
    });
    const e = await loadError(dir);
    expect(e.message).toContain(manifestPath(dir));
    expect(e.message).toContain(`'${victim}'`);
  });
});

describe('hostile checkpoints: nothing outside the folder is read, malformed entries are CheckpointErrors', () => {
  const configPath = (dir: string) => join(dir, 'config.json');
  const manifestPath = (dir: string) => join(dir, `model-${TAG}.json`);
  const weightsFile = `weights-${TAG}.bin`;

  /** Every file's bytes, by name: loading must change none of them. */
  async function snapshot(dir: string): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const f of (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile())) out.set(f.name, await readFile(join(dir, f.name)));
    return out;
  }

  /** Loads `dir`, expects a CheckpointError whose message holds every part, and checks no file changed or was opened. */
  async function refuses(dir: string, parts: string[], notOpened: string[] = []): Promise<Error> {
    const before = await snapshot(dir);
    fault.opened.length = 0;
    const e = await loadError(dir);
    for (const p of parts) expect(e.message, e.message).toContain(p);
    for (const p of notOpened) expect(fault.opened, `${p} was opened`).not.toContain(p);
    expect(await snapshot(dir)).toEqual(before);
    return e;
  }

  const setPath = (dir: string, path: unknown) => editJson(manifestPath(dir), (j) => (j.weightsManifest[0].paths = [path]));

  it("a manifest path with '..' to a file of the right size outside the folder: refused, the file is never opened", async () => {
    const dir = await copyOfGood();
    const outside = join(root, `outside-${n}.bin`);
    await cp(join(dir, weightsFile), outside);
    await setPath(dir, `../${basename(outside)}`);
    await refuses(dir, [manifestPath(dir), `../${basename(outside)}`, "'..'"], [outside]);
    expect(await readFile(outside)).toEqual(await readFile(join(good, weightsFile)));
  });

  it('an absolute manifest path (to a copy of the weights, and /etc/passwd): refused, never opened', async () => {
    for (const target of [join(root, `abs-${n}.bin`), '/etc/passwd']) {
      const dir = await copyOfGood();
      if (target !== '/etc/passwd') await cp(join(dir, weightsFile), target);
      await setPath(dir, target);
      await refuses(dir, [manifestPath(dir), target, 'relative'], [target]);
    }
  });

  it('a symbolic link inside the folder to a file outside it: refused, the target never opened', async () => {
    const dir = await copyOfGood();
    const outside = join(root, `linked-${n}.bin`);
    await cp(join(dir, weightsFile), outside);
    await rm(join(dir, weightsFile));
    await symlink(outside, join(dir, weightsFile));
    await refuses(dir, [join(dir, weightsFile), 'outside the checkpoint folder', outside], [outside]);
  });

  it('a symbolic link to /dev/zero: refused at once (it would be read until memory runs out)', async () => {
    const dir = await copyOfGood();
    await rm(join(dir, weightsFile));
    await symlink('/dev/zero', join(dir, weightsFile));
    await refuses(dir, [join(dir, weightsFile), 'outside the checkpoint folder'], ['/dev/zero']);
  });

  it('config.json as a symbolic link to a checkpoint elsewhere: refused', async () => {
    const dir = await copyOfGood();
    const other = await copyOfGood();
    await rm(configPath(dir));
    await symlink(configPath(other), configPath(dir));
    await refuses(dir, [configPath(dir), 'outside the checkpoint folder'], [configPath(other)]);
  });

  it('a FIFO named by the manifest: refused without blocking; a directory: refused', async () => {
    const dir = await copyOfGood();
    execFileSync('mkfifo', [join(dir, 'fifo.bin')]);
    await setPath(dir, 'fifo.bin');
    await refuses(dir, [join(dir, 'fifo.bin'), 'not a regular file']);
    const dir2 = await copyOfGood();
    await setPath(dir2, '.');
    await loadError(dir2);
    const dir3 = await copyOfGood();
    await mkdir(join(dir3, 'sub.bin'));
    await setPath(dir3, 'sub.bin');
    await refuses(dir3, [join(dir3, 'sub.bin'), 'not a regular file']);
  });

  it('a manifest describing far more bytes than the config needs (a sparse file can back any size): refused before reading', async () => {
    const dir = await copyOfGood();
    await editJson(manifestPath(dir), (j) => (j.weightsManifest[0].weights[0].shape = [2 ** 20, 2 ** 12]));
    await refuses(dir, [manifestPath(dir), 'more than', String(64 * totalParams())], [join(dir, weightsFile)]);
  });

  it('a weight file of the wrong size is refused before any weight file is read', async () => {
    const dir = await copyOfGood();
    const path = join(dir, `optimizer-${TAG}.bin`);
    await truncate(path, 8);
    await refuses(dir, [path, 'truncated', '8 bytes'], [join(dir, weightsFile), join(dir, `ema-${TAG}.bin`)]);
  });

  // [description, edit of the parsed manifest, what the message must name]
  const malformed: [string, (j: any) => void, string[]][] = [
    ['weightsManifest is an object', (j) => (j.weightsManifest = {}), ["'weightsManifest'"]],
    ['a null group', (j) => (j.weightsManifest[1] = null), ['weightsManifest[1]', 'null']],
    ['a group without paths', (j) => delete j.weightsManifest[0].paths, ['weightsManifest[0].paths', 'nothing']],
    ['a number as a path', (j) => (j.weightsManifest[0].paths = [42]), ['weightsManifest[0].paths', '42']],
    ['paths a string, not a list', (j) => (j.weightsManifest[0].paths = 'weights.bin'), ['weightsManifest[0].paths', 'weights.bin']],
    ['two paths in one group', (j) => (j.weightsManifest[0].paths = ['a.bin', 'b.bin']), ['weightsManifest[0].paths']],
    ['weights null', (j) => (j.weightsManifest[2].weights = null), ['weightsManifest[2].weights', 'null']],
    ['a null weight entry', (j) => (j.weightsManifest[0].weights[3] = null), ['weightsManifest[0].weights[3]', 'null']],
    ['a weight without a name', (j) => delete j.weightsManifest[0].weights[1].name, ['weightsManifest[0].weights[1].name']],
    ['a shape that is a string', (j) => (j.weightsManifest[0].weights[2].shape = '16,16'), ['weightsManifest[0].weights[2]', 'shape', '"16,16"']],
    ['a missing shape', (j) => delete j.weightsManifest[1].weights[0].shape, ['weightsManifest[1].weights[0]', 'shape', 'nothing']],
    ['a negative dimension', (j) => (j.weightsManifest[0].weights[0].shape = [-4, -1]), ['weightsManifest[0].weights[0]', '[-4,-1]']],
    ['a fractional dimension', (j) => (j.weightsManifest[0].weights[0].shape = [2.5]), ['weightsManifest[0].weights[0]', '[2.5]']],
    ['a shape whose size overflows', (j) => (j.weightsManifest[0].weights[0].shape = [1e300, 1e300]), ['weightsManifest[0].weights[0]', 'too large']],
    ['an unknown dtype', (j) => (j.weightsManifest[0].weights[0].dtype = 'complex64'), ['weightsManifest[0].weights[0]', 'complex64', 'float32']],
    ['a missing dtype', (j) => delete j.weightsManifest[0].weights[0].dtype, ['weightsManifest[0].weights[0]', 'dtype']],
    ['a name listed twice', (j) => (j.weightsManifest[1].weights[0].name = j.weightsManifest[0].weights[0].name), ['weightsManifest[1].weights[0]', 'twice']],
  ];
  for (const [what, edit, parts] of malformed) {
    it(`malformed manifest: ${what} is a CheckpointError naming the file and the entry, not a TypeError`, async () => {
      const dir = await copyOfGood();
      await editJson(manifestPath(dir), edit);
      const e = await refuses(dir, [manifestPath(dir), ...parts]);
      expect(e).not.toBeInstanceOf(TypeError);
    });
  }

  it('a one-bit change in a weight file (still finite) is caught by its SHA-256, naming the file and config.json', async () => {
    for (const file of [weightsFile, `optimizer-${TAG}.bin`]) {
      const dir = await copyOfGood();
      const path = join(dir, file);
      const bytes = await readFile(path);
      bytes[100] ^= 0x01; // the low mantissa bit of a float: still a finite number
      await writeFile(path, bytes);
      await refuses(dir, [path, 'SHA-256', configPath(dir), (await readJson(configPath(dir))).files.sha256[file]]);
    }
  });

  for (const [what, edit, parts] of [
    ['no files.sha256', (j: any) => delete j.files.sha256, ["'files.sha256'", 'nothing']],
    ['a checksum that is not hex', (j: any) => (j.files.sha256[`ema-${TAG}.bin`] = 'abc'), ["'files.sha256'", `ema-${TAG}.bin`, '"abc"']],
    ['no checksum for a file the manifest names', (j: any) => delete j.files.sha256[`ema-${TAG}.bin`], ["'files.sha256'", `ema-${TAG}.bin`]],
    ["a string 'optimizer.step'", (j: any) => (j.optimizer.step = '77'), ["'optimizer.step'", '"77"']],
    ["a negative 'optimizer.step'", (j: any) => (j.optimizer.step = -1), ["'optimizer.step'", '-1']],
    ["a 'train' record that is not an object", (j: any) => (j.train = [1]), ["'train'"]],
  ] as [string, (j: any) => void, string[]][]) {
    it(`config.json with ${what}: refused, naming config.json and the field`, async () => {
      const dir = await copyOfGood();
      await editJson(configPath(dir), edit);
      await refuses(dir, [configPath(dir), ...parts]);
    });
  }

  it('a version-1 checkpoint (no checksums, as older runs wrote) still loads exactly', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => ((j.version = 1), delete j.files.sha256));
    const back = await loadCheckpoint(dir);
    expect(back.step).toBe(STEP);
    for (const name of names()) expect(back.weights[name], name).toEqual(ckpt.weights[name]);
    expect(back.optimizer!.step).toBe(77);
  });

  it("a version-2 checkpoint (its config has no 'arch', as before model families) loads as liquidflow, exactly", async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => ((j.version = 2), delete j.config.arch));
    const back = await loadCheckpoint(dir);
    expect(back.config).toEqual(cfg);
    expect(back.config.arch).toBe('liquidflow');
    for (const name of names()) expect(back.weights[name], name).toEqual(ckpt.weights[name]);
  });

  it('writes the arch into config.json', async () => {
    expect((await readJson(configPath(good))).config.arch).toBe('liquidflow');
  });

  it('config.json with an unknown arch: refused, naming the file, the arch and the known families', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.config.arch = 'liquidfoo'));
    await refuses(dir, [configPath(dir), '"liquidfoo"', 'known families are liquidflow']);
  });

  it('config.json of a newer version: refused, naming the file and saying so', async () => {
    const dir = await copyOfGood();
    await editJson(configPath(dir), (j) => (j.version = 4));
    await refuses(dir, [configPath(dir), 'unsupported checkpoint version 4', 'reads 1, 2, 3', 'newer than this build']);
  });
});

describe('atomic save: config.json is the commit point', () => {
  const w = (c: Checkpoint, v: number) => {
    const out = { ...c, weights: { ...c.weights } };
    out.weights['final.linear.bias'] = new Float32Array(c.weights['final.linear.bias'].length).fill(v);
    return out;
  };

  it('writes the stamped files first, replaces config.json last, and only then deletes the old step', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, makeCheckpoint(5));
    fault.events.length = 0;
    await saveCheckpoint(dir, makeCheckpoint(10));
    const ev = fault.events.filter((e) => !e.includes('.tmp-')); // a failed write's temp cleanup is not expected here anyway
    const commit = ev.indexOf('rename config.json');
    expect(commit, ev.join('\n')).toBeGreaterThan(0);
    expect(ev.slice(0, commit).sort()).toEqual(stamped(10).map((f) => `rename ${f}`).sort());
    expect(ev.slice(commit + 1).sort()).toEqual(stamped(5).map((f) => `rm ${f}`).sort());
  });

  it('saving step 5 then step 10 leaves only the step-10 files and config.json (no temp files)', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, w(makeCheckpoint(5), 0.25));
    await saveCheckpoint(dir, w(makeCheckpoint(10), 0.5));
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(10)].sort());
    expect(await readdir(parent)).toEqual(['ckpt']);
    const back = await loadCheckpoint(dir);
    expect(back.step).toBe(10);
    expect(back.weights['final.linear.bias'].every((v) => v === 0.5)).toBe(true);
  });

  it('saving the same step twice replaces it in place', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, w(makeCheckpoint(7), 0.25));
    await saveCheckpoint(dir, w(makeCheckpoint(7), 0.75));
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(7)].sort());
    expect((await loadCheckpoint(dir)).weights['final.linear.bias'].every((v) => v === 0.75)).toBe(true);
  });

  it('a save from a run without optimizer state deletes the old optimizer file', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, makeCheckpoint(5));
    await saveCheckpoint(dir, makeCheckpoint(6, false));
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(6, false)].sort());
    expect((await loadCheckpoint(dir)).optimizer).toBeUndefined();
  });

  it("a crash after the new step's files were written but before config.json was replaced: the old step loads intact", async () => {
    // Dir B holds a step-10 checkpoint; its stamped files are copied into dir A (step 5), as a save killed right before
    // its config.json rename would leave them.
    const a = join(await mkdtemp(join(root, 'atomic-')), 'A');
    const b = join(await mkdtemp(join(root, 'atomic-')), 'B');
    const five = w(makeCheckpoint(5), 0.25);
    await saveCheckpoint(a, five);
    await saveCheckpoint(b, w(makeCheckpoint(10), 0.5));
    for (const f of stamped(10)) await cp(join(b, f), join(a, f));
    // A half-written temp file of the config.json that never got renamed.
    await writeFile(join(a, `.config.json.tmp-999-3`), '{"format": "liquidflow-chec');
    const back = await loadCheckpoint(a);
    expect(back.step).toBe(5);
    for (const name of names()) {
      expect(back.weights[name], name).toEqual(five.weights[name]);
      expect(back.ema[name], name).toEqual(five.ema[name]);
      expect(back.optimizer!.m[name], name).toEqual(five.optimizer!.m[name]);
    }
    // The next save (a resumed run reaching step 6) cleans up the orphans.
    await saveCheckpoint(a, makeCheckpoint(6));
    expect((await readdir(a)).sort()).toEqual(['config.json', ...stamped(6)].sort());
    expect((await loadCheckpoint(a)).step).toBe(6);
  });

  it('a crash after config.json was replaced but before the old files were deleted: the new step loads', async () => {
    const a = join(await mkdtemp(join(root, 'atomic-')), 'A');
    const b = join(await mkdtemp(join(root, 'atomic-')), 'B');
    await saveCheckpoint(a, w(makeCheckpoint(10), 0.5));
    await saveCheckpoint(b, w(makeCheckpoint(5), 0.25));
    for (const f of stamped(5)) await cp(join(b, f), join(a, f));
    const back = await loadCheckpoint(a);
    expect(back.step).toBe(10);
    expect(back.weights['final.linear.bias'].every((v) => v === 0.5)).toBe(true);
    await saveCheckpoint(a, makeCheckpoint(11));
    expect((await readdir(a)).sort()).toEqual(['config.json', ...stamped(11)].sort());
  });

  it('a save whose config.json rename fails leaves the previous checkpoint loadable and no temp file', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    const five = w(makeCheckpoint(5), 0.25);
    await saveCheckpoint(dir, five);
    fault.failRenameTo = 'config.json';
    try {
      await expect(saveCheckpoint(dir, w(makeCheckpoint(10), 0.5))).rejects.toThrow(/injected failure/);
    } finally {
      fault.failRenameTo = null;
    }
    expect(await tempFiles(dir)).toEqual([]);
    // The step-10 files are there (orphans), config.json still names step 5.
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(5), ...stamped(10)].sort());
    const back = await loadCheckpoint(dir);
    expect(back.step).toBe(5);
    expect(back.weights['final.linear.bias'].every((v) => v === 0.25)).toBe(true);
    expect(back.optimizer!.step).toBe(77);
    // And a later successful save commits and cleans up.
    await saveCheckpoint(dir, w(makeCheckpoint(10), 0.5));
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(10)].sort());
    expect((await loadCheckpoint(dir)).weights['final.linear.bias'].every((v) => v === 0.5)).toBe(true);
  });

  it('a save failing on a weight file, before config.json, leaves the previous checkpoint loadable', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, makeCheckpoint(5));
    fault.failRenameTo = `ema-${tag(10)}.bin`;
    try {
      await expect(saveCheckpoint(dir, makeCheckpoint(10))).rejects.toThrow(/injected failure/);
    } finally {
      fault.failRenameTo = null;
    }
    expect(await tempFiles(dir)).toEqual([]);
    expect((await readCheckpointConfig(dir)).step).toBe(5);
    expect((await loadCheckpoint(dir)).step).toBe(5);
  });

  it('a leftover temp file does not break loading and is cleaned by the next save', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, makeCheckpoint(5));
    const leftovers = ['.config.json.tmp-123-0', `.weights-${tag(6)}.bin.tmp-123-1`, `.model-${tag(6)}.json.tmp-4567-12`];
    for (const f of leftovers) await writeFile(join(dir, f), 'partial');
    expect((await loadCheckpoint(dir)).step).toBe(5);
    await saveCheckpoint(dir, makeCheckpoint(6));
    expect(await tempFiles(dir)).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['config.json', ...stamped(6)].sort());
    expect((await loadCheckpoint(dir)).step).toBe(6);
  });

  it('files that are not the checkpoint (run outputs) survive a save', async () => {
    const dir = join(await mkdtemp(join(root, 'atomic-')), 'ckpt');
    await saveCheckpoint(dir, makeCheckpoint(5));
    await writeFile(join(dir, 'metrics.jsonl'), '{"step":1}\n');
    await writeFile(join(dir, 'loss.png'), 'x');
    await writeFile(join(dir, 'model-notes.json'), '{}');
    await saveCheckpoint(dir, makeCheckpoint(6));
    const files = await readdir(dir);
    for (const f of ['metrics.jsonl', 'loss.png', 'model-notes.json']) expect(files).toContain(f);
    expect(basename(dir)).toBe('ckpt');
  });
});
