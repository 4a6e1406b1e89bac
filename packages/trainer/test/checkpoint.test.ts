// Checkpoint directories: an exact round trip of raw and EMA weights, a clear error (file path + problem) for every way a
// directory can be broken, and atomic replacement (no temp or .prev left behind; a crash between the renames is
// recoverable).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, readFile, readdir, rename, rm, writeFile, cp, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paramSpecs, resolveConfig, sizeOf } from '@liquidflow/core';
import { CheckpointError, freshCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint } from '@liquidflow/trainer';

// Fault injection for the atomic-save tests: when failRenameInto is set, renaming a temp dir onto it fails, as if the
// process died right before that rename. Everything else goes to the real fs.
const fault = vi.hoisted(() => ({ failRenameInto: null as string | null }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const rename = async (from: import('node:fs').PathLike, to: import('node:fs').PathLike) => {
    if (fault.failRenameInto !== null && String(to) === fault.failRenameInto && String(from).includes('.tmp-')) {
      throw Object.assign(new Error(`injected failure renaming ${from} -> ${to}`), { code: 'EIO' });
    }
    return real.rename(from, to);
  };
  return { ...real, rename, default: { ...real, rename } };
});

const cfg = resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 });
let root: string;
let good: string; // a saved checkpoint, copied for each corruption test
let ckpt: Checkpoint;

/** A checkpoint with EMA different from the raw weights, so a swap of the two would be caught. */
function makeCheckpoint(): Checkpoint {
  const c = freshCheckpoint(cfg, 17);
  for (const [k, v] of Object.entries(c.ema)) for (let i = 0; i < v.length; i++) v[i] = v[i] * 0.5 + 0.25 + i * 1e-3 + k.length;
  return { ...c, step: 1234, seed: 17 };
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
  it('writes the documented files', async () => {
    expect((await readdir(good)).sort()).toEqual(['config.json', 'ema.bin', 'model.json', 'weights.bin']);
    const specs = paramSpecs(cfg);
    const total = specs.reduce((s, p) => s + sizeOf(p.shape), 0);
    expect((await readFile(join(good, 'weights.bin'))).length).toBe(total * 4);
    expect((await readFile(join(good, 'ema.bin'))).length).toBe(total * 4);
  });

  it('raw and EMA weights, step, seed and config come back exactly', async () => {
    const back = await loadCheckpoint(good);
    expect(back.config).toEqual(cfg);
    expect(back.step).toBe(1234);
    expect(back.seed).toBe(17);
    expect(back.dir).toBe(good);
    const names = paramSpecs(cfg).map((s) => s.name);
    expect(Object.keys(back.weights).sort()).toEqual([...names].sort());
    expect(Object.keys(back.ema).sort()).toEqual([...names].sort());
    for (const name of names) {
      expect(back.weights[name], name).toEqual(ckpt.weights[name]);
      expect(back.ema[name], `ema ${name}`).toEqual(ckpt.ema[name]);
      expect(back.weights[name]).not.toEqual(back.ema[name]);
    }
  });

  it('weights.bin is little-endian float32 in manifest order', async () => {
    const bytes = await readFile(join(good, 'weights.bin'));
    const manifest = JSON.parse(await readFile(join(good, 'model.json'), 'utf8'));
    const first = manifest.weightsManifest[0].weights[0];
    const vals = ckpt.weights[first.name];
    for (let i = 0; i < 4; i++) expect(bytes.readFloatLE(i * 4)).toBe(vals[i]);
  });

  it('saving refuses a checkpoint with a missing weight, naming it', async () => {
    const bad = makeCheckpoint();
    delete bad.weights['final.linear.weight'];
    await expect(saveCheckpoint(join(root, 'never'), bad)).rejects.toThrow(/final\.linear\.weight/);
    expect(await readdir(root)).not.toContain('never');
  });
});

describe('load errors name the file and the problem', () => {
  it('directory missing', async () => {
    const dir = join(root, 'does-not-exist');
    const e = await loadError(dir);
    expect(e.message).toContain(dir);
    expect(e.message).toMatch(/not found/);
  });

  it('config.json missing', async () => {
    const dir = await copyOfGood();
    await rm(join(dir, 'config.json'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'config.json'));
    expect(e.message).toMatch(/missing/);
  });

  it('config.json invalid JSON', async () => {
    const dir = await copyOfGood();
    await writeFile(join(dir, 'config.json'), '{ "format": "liquidflow-checkpoint", ');
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'config.json'));
    expect(e.message).toMatch(/invalid JSON/);
  });

  it("config.json with a wrong 'format'", async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'config.json'), (j) => (j.format = 'something-else'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'config.json'));
    expect(e.message).toContain('something-else');
    expect(e.message).toMatch(/not a LiquidFlow checkpoint/);
  });

  it('config.json with an invalid config field names the field', async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'config.json'), (j) => (j.config.d_state = 'eight'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'config.json'));
    expect(e.message).toContain("'d_state'");
  });

  it('weights.bin missing', async () => {
    const dir = await copyOfGood();
    await rm(join(dir, 'weights.bin'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'weights.bin'));
    expect(e.message).toMatch(/missing/);
  });

  it('ema.bin missing', async () => {
    const dir = await copyOfGood();
    await rm(join(dir, 'ema.bin'));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'ema.bin'));
    expect(e.message).toMatch(/missing/);
  });

  it('weights.bin truncated', async () => {
    const dir = await copyOfGood();
    const path = join(dir, 'weights.bin');
    const size = (await readFile(path)).length;
    await truncate(path, size - 6);
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/truncated/);
    expect(e.message).toContain(String(size - 6));
    expect(e.message).toContain(String(size));
  });

  it('model.json declares a wrong shape (same size) for one weight: names the weight and both shapes', async () => {
    const dir = await copyOfGood();
    const spec = paramSpecs(cfg).find((s) => s.shape.length === 2 && s.shape[0] !== s.shape[1])!;
    const swapped = [spec.shape[1], spec.shape[0]];
    await editJson(join(dir, 'model.json'), (j) => {
      const w = j.weightsManifest[0].weights.find((x: { name: string }) => x.name === spec.name);
      w.shape = swapped;
    });
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'model.json'));
    expect(e.message).toContain(`'${spec.name}'`);
    expect(e.message).toContain(`[${swapped}]`);
    expect(e.message).toContain(`[${spec.shape}]`);
  });

  it('model.json declares a wrong shape (different size): the byte count no longer matches', async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'model.json'), (j) => {
      const w = j.weightsManifest[0].weights.find((x: { name: string }) => x.name === 'final.linear.bias');
      w.shape = [w.shape[0] + 1];
    });
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'weights.bin'));
    expect(e.message).toContain(join(dir, 'model.json'));
    expect(e.message).toMatch(/too long|truncated/);
  });

  it('a dtype other than float32', async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'model.json'), (j) => (j.weightsManifest[1].weights[3].dtype = 'float16'));
    const name = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')).weightsManifest[1].weights[3].name;
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'model.json'));
    expect(e.message).toContain(name);
    expect(e.message).toContain('float16');
  });

  it('config.json changed (dim) so it no longer matches the weights: names the weight and both shapes', async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'config.json'), (j) => (j.config.dim = 64));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'model.json'));
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

  it('config.json changed (depth) so a weight is missing: names it', async () => {
    const dir = await copyOfGood();
    await editJson(join(dir, 'config.json'), (j) => (j.config.depth = 3));
    const e = await loadError(dir);
    expect(e.message).toContain(join(dir, 'model.json'));
    expect(e.message).toMatch(/blocks\.2\.[\w.]+' is missing/);
  });

  it('a NaN in weights.bin names the weight', async () => {
    const dir = await copyOfGood();
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const entries: { name: string; shape: number[] }[] = manifest.weightsManifest[0].weights;
    // Put the NaN inside the third weight.
    const offset = sizeOf(entries[0].shape) + sizeOf(entries[1].shape) + 1;
    const path = join(dir, 'weights.bin');
    const bytes = await readFile(path);
    bytes.writeFloatLE(NaN, offset * 4);
    await writeFile(path, bytes);
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(`'${entries[2].name}'`);
    expect(e.message).toContain('NaN');
  });

  it('an Inf in ema.bin names the EMA weight', async () => {
    const dir = await copyOfGood();
    const path = join(dir, 'ema.bin');
    const bytes = await readFile(path);
    bytes.writeFloatLE(-Infinity, bytes.length - 4);
    await writeFile(path, bytes);
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const last = manifest.weightsManifest[1].weights.at(-1).name;
    const e = await loadError(dir);
    expect(e.message).toContain(path);
    expect(e.message).toContain(`'${last}'`);
    expect(e.message).toMatch(/Inf/);
  });
});

describe('atomic save', () => {
  it('saving twice to the same dir replaces it and leaves no temp dir or .prev behind', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, ckpt);
    const second = { ...makeCheckpoint(), step: 99 };
    second.weights['final.linear.bias'] = new Float32Array(second.weights['final.linear.bias'].length).fill(0.5);
    await saveCheckpoint(dir, second);
    expect(await readdir(parent)).toEqual(['ckpt']);
    const back = await loadCheckpoint(dir);
    expect(back.step).toBe(99);
    expect(back.weights['final.linear.bias'].every((v) => v === 0.5)).toBe(true);
  });

  it('extra files are written alongside and replaced with the directory', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, ckpt, { 'notes.txt': 'first' });
    await saveCheckpoint(dir, ckpt);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'ema.bin', 'model.json', 'weights.bin']);
  });

  it('a crash between the renames (only <dir>.prev exists) still loads', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, ckpt);
    await rename(dir, dir + '.prev');
    const back = await loadCheckpoint(dir);
    expect(back.dir).toBe(dir + '.prev');
    expect(back.step).toBe(ckpt.step);
    expect(back.weights['blocks.0.ssm.A_log']).toEqual(ckpt.weights['blocks.0.ssm.A_log']);
    expect(back.ema['blocks.0.ssm.A_log']).toEqual(ckpt.ema['blocks.0.ssm.A_log']);
  });

  it('when both exist, the directory itself wins over .prev', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir + '.prev', { ...ckpt, step: 1 });
    await saveCheckpoint(dir, { ...ckpt, step: 2 });
    expect((await loadCheckpoint(dir)).step).toBe(2);
  });

  it('a save that fails before its final rename leaves the old checkpoint loadable (from .prev) and no temp dir', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, { ...ckpt, step: 5 });
    fault.failRenameInto = dir;
    try {
      await expect(saveCheckpoint(dir, { ...ckpt, step: 6 })).rejects.toThrow(/injected failure/);
    } finally {
      fault.failRenameInto = null;
    }
    expect((await readdir(parent)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect((await loadCheckpoint(dir)).step).toBe(5);
  });

  it('a save after a crash, failing again before its final rename, still leaves the old checkpoint loadable', async () => {
    const parent = await mkdtemp(join(root, 'atomic-'));
    const dir = join(parent, 'ckpt');
    await saveCheckpoint(dir, { ...ckpt, step: 5 });
    await rename(dir, dir + '.prev'); // the first crash
    fault.failRenameInto = dir;
    try {
      await expect(saveCheckpoint(dir, { ...ckpt, step: 6 })).rejects.toThrow(/injected failure/);
    } finally {
      fault.failRenameInto = null;
    }
    expect((await loadCheckpoint(dir)).step).toBe(5);
  });
});
