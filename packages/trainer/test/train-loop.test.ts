// The training loop through its API, train(opts, explicit), on a tiny Fashion-MNIST fixture in the real IDX format
// (tiny at 16 px: 4x4 tokens, batch 4): what a run writes (metrics.jsonl, sample grids, loss.png, a checkpoint with
// optimizer state), a diverging run stopped without replacing the last good checkpoint, resume refusals, and
// weak-to-strong init at a larger size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LiquidFlowConfig, liquidFlowDims, resizePosEmbed } from '@liquidflow/core';
import { CheckpointError, loadCheckpoint, type Checkpoint } from '@liquidflow/checkpoint';
import { learningRate, train } from '@liquidflow/trainer';
import { collectLog, maxAbsDiff, pngSize, smallRun, writeFashionMnistFixture, timer, trainError } from './helpers';

let root: string;
let data: string;
let runA: string; // the 5-step run of the first test, reused by later ones
const timings: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'liquidflow-train-'));
  data = await writeFashionMnistFixture(join(root, 'data'), 64);
  runA = join(root, 'a');
});

afterAll(async () => {
  console.log(`train-loop timings:\n  ${timings.join('\n  ')}`);
  await rm(root, { recursive: true, force: true });
});

const timed = timer(timings);

const metricRows = async (dir: string) =>
  (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

describe('a training run', () => {
  it('writes metrics every log_every steps, sample grids every sample_every steps, loss.png and a final checkpoint', async () => {
    const c = collectLog();
    const opts = smallRun(runA, data, { steps: 5, log_every: 2, sample_every: 2, save_every: 2, physics_warmup: 3, lr_decay_steps: 2 });
    const r = await timed('5 steps (log/sample/save every 2)', () => train(opts, new Set(), c.log));
    expect(r.step).toBe(5);
    expect(r.dir).toBe(runA);
    expect(Number.isFinite(r.lastLoss)).toBe(true);
    expect(c.lines.join('\n')).toMatch(/training engine: TensorFlow\.js wasm/);
    expect(c.lines.join('\n')).toContain('64 images');
    expect(c.lines.join('\n')).toContain('lr 0.001 decaying to 0 from step 3');
    expect(c.lines.at(-1)).toContain(`done: ${runA} at step 5`);

    // metrics.jsonl: a row at every log_every-th step and at the end.
    const rows = await metricRows(runA);
    expect(rows.map((x) => x.step)).toEqual([2, 4, 5]);
    for (const row of rows) {
      for (const k of ['step', 'epoch', 'loss', 'flow', 'smooth', 'tv', 'lr', 'steps_per_s', 'data_ms']) {
        expect(typeof row[k], `${k} in ${JSON.stringify(row)}`).toBe('number');
        expect(Number.isFinite(row[k]), k).toBe(true);
      }
      expect(typeof row.time).toBe('string');
      expect(Number.isNaN(Date.parse(row.time))).toBe(false);
      expect(row.epoch).toBe(0); // 5 steps x 4 = 20 of 64 images
      expect(row.loss).toBeGreaterThan(0);
      expect(row.flow).toBeGreaterThan(0);
      // Physics terms are on (the warm-up weight is > 0 from the second step on) and add to the total.
      expect(row.smooth).toBeGreaterThan(0);
      expect(row.tv).toBeGreaterThan(0);
      const w = Math.min(1, (row.step - 1) / 3);
      const expected = row.flow + 1e-3 * w * row.smooth + 1e-3 * w * row.tv;
      expect(Math.abs(row.loss - expected) / expected).toBeLessThan(1e-5);
      expect(row.lr).toBeCloseTo(learningRate(row.step - 1, 2, 1e-3, 2, 5), 12);
    }
    // Warm-up over steps 0-1, peak, then the decay over the last 2 of 5 steps: step index 4 (row 5) at half the peak.
    expect(rows.map((x) => x.lr)).toEqual([1e-3, 1e-3, 5e-4]);

    // Sample grids: 4 images of 16 px in a 2x2 grid with 2 px padding.
    const samples = (await readdir(join(runA, 'samples'))).sort();
    expect(samples).toEqual(['step_00000002.png', 'step_00000004.png', 'step_00000005.png']);
    for (const s of samples) expect(pngSize(await readFile(join(runA, 'samples', s)))).toEqual({ width: 38, height: 38 });
    expect(pngSize(await readFile(join(runA, 'loss.png')))).toEqual({ width: 640, height: 360 });

    // The checkpoint: only the final step's files remain; it loads with the optimizer state and the run's options.
    const files = (await readdir(runA)).filter((f) => f !== 'samples').sort();
    expect(files).toEqual(['config.json', 'ema-00000005.bin', 'loss.png', 'metrics.jsonl', 'model-00000005.json', 'optimizer-00000005.bin', 'weights-00000005.bin']);
    const ck = await loadCheckpoint(runA);
    expect(ck.step).toBe(5);
    expect(ck.seed).toBe(3);
    expect(ck.config.variant).toBe('tiny');
    expect(ck.config.img_size).toBe(16);
    expect(ck.optimizer?.step).toBe(5);
    expect(maxAbsDiff(ck.weights, ck.ema)).toBeGreaterThan(0);
    const someM = Object.values(ck.optimizer!.m).some((a) => a.some((v) => v !== 0));
    const someV = Object.values(ck.optimizer!.v).some((a) => a.some((v) => v > 0));
    expect(someM && someV).toBe(true);
    expect(ck.train).toMatchObject({ batch_size: 4, steps: 5, lr: 1e-3, log_every: 2, data_dir: data, model_size: 'tiny', img_size: 16 });
    expect(ck.train?.resume).toBeUndefined();
  });

  it('the physics terms are 0 on the first step (warm-up weight 0) and on from the second', async () => {
    const dir = join(root, 'physics');
    await timed('2 steps (physics warm-up)', () => train(smallRun(dir, data, { steps: 2, log_every: 1, physics_warmup: 4 }), new Set(), () => {}));
    const [first, second] = await metricRows(dir);
    expect(first.step).toBe(1);
    expect(first.smooth).toBe(0);
    expect(first.tv).toBe(0);
    expect(first.loss).toBe(first.flow);
    expect(second.step).toBe(2);
    expect(second.smooth).toBeGreaterThan(0);
    expect(second.tv).toBeGreaterThan(0);
    expect(second.loss).toBeGreaterThan(second.flow);
  });
});

describe('a diverging run', () => {
  // Checkpoint files by SHA-256 (a diff of megabyte Buffers would not fit in memory): a refused save must leave every
  // one of them as it was.
  const snapshot = async (dir: string) =>
    Object.fromEntries(await Promise.all((await readdir(dir)).filter((f) => f !== 'metrics.jsonl' && f !== 'samples').sort()
      .map(async (f) => [f, createHash('sha256').update(await readFile(join(dir, f))).digest('hex')])));
  let good: string;
  beforeAll(async () => {
    good = join(root, 'good-then-diverge');
    await train(smallRun(good, data, { steps: 2, save_every: 1, warmup_steps: 0 }), new Set(), () => {});
  });

  it('an exploded (finite) update never replaces the last good checkpoint, which is named and stays byte-identical', async () => {
    const before = await snapshot(good);
    expect(Object.keys(before)).toContain('config.json');
    // lr 1e30 without warm-up: the update makes the weights ~1e30, finite; the save after it must refuse them.
    const e = await timed('resume at lr 1e30', () =>
      trainError(smallRun('', data, { resume: good, steps: 6, save_every: 1, lr: 1e30, warmup_steps: 0 }), new Set(['resume', 'steps', 'save_every', 'lr', 'warmup_steps'])));
    expect(e).not.toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(new RegExp(`^training stopped at step 3: cannot save ${good.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} at step 3: the weights norm grew from [\\d.e+]+ to [\\d.e+]+ since step 2, more than 4x \\(the run is diverging\\)`));
    expect(e.message).toContain(`The last good checkpoint is ${good} (step 2); try a lower --lr or --grad_clip`);
    expect(await snapshot(good)).toEqual(before);
    expect((await loadCheckpoint(good)).step).toBe(2);
  });

  it('a NaN loss after the explosion names the truly last good checkpoint: the resumed one, not the new --out', async () => {
    const out = join(root, 'diverge-elsewhere');
    const before = await snapshot(good);
    // No save between the exploding update (step 3) and the NaN loss it causes (step 4).
    const e = await timed('lr 1e30 until NaN', () =>
      trainError(smallRun(out, data, { resume: good, steps: 6, save_every: 1000, lr: 1e30, warmup_steps: 0 }), new Set(['resume', 'out', 'steps', 'save_every', 'lr', 'warmup_steps'])));
    expect(e.message).toMatch(/^training stopped at step 4: loss is (NaN|-?Infinity) \(flow /);
    expect(e.message).toContain(`The last good checkpoint is ${good} (step 2)`);
    expect(existsSync(join(out, 'config.json'))).toBe(false);
    expect(await snapshot(good)).toEqual(before);
  });

  it('a fresh run that explodes before its first save says it has no good checkpoint, and writes none', async () => {
    const dir = join(root, 'nan');
    const e = await timed('fresh lr 1e30', () =>
      trainError(smallRun(dir, data, { steps: 6, save_every: 1, lr: 1e30, warmup_steps: 0 }), new Set()));
    expect(e.message).toMatch(/^training stopped at step 1: cannot save .* at step 1: the weights norm grew from .* since the start of the run/);
    expect(e.message).toContain('No checkpoint of this run passed its health check yet');
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
  });

  it('an update that overflows the weights never replaces the checkpoint with one that does not load', async () => {
    // lr 1e39: lr * update overflows float32 while the loss it came from is finite; the save must refuse it.
    const dir = join(root, 'inf-weights');
    const e = await timed('lr 1e39', () => trainError(smallRun(dir, data, { steps: 3, save_every: 1, lr: 1e39, warmup_steps: 0 }), new Set()));
    expect(e.message).toMatch(/training stopped at step \d+: cannot save .* contains (Infinity|-Infinity|NaN)/);
    if (existsSync(join(dir, 'config.json'))) await loadCheckpoint(dir);
  });
});

describe('--resume refusals', () => {
  it('a mismatching --img_size or --model_size fails naming config.json and the field, before touching the run', async () => {
    const before = await readFile(join(runA, 'config.json'), 'utf8');
    const e1 = await trainError(smallRun(root, data, { img_size: 32, resume: runA, steps: 8 }), new Set(['img_size', 'resume', 'steps']));
    expect(e1).toBeInstanceOf(CheckpointError);
    expect(e1.message).toContain(join(runA, 'config.json'));
    expect(e1.message).toContain('img_size');
    expect(e1.message).toContain('32');
    expect(e1.message).toContain('16');
    expect(e1.message).toContain('--init_from');
    const e2 = await trainError(smallRun(root, data, { model_size: 'small', resume: runA, steps: 8 }), new Set(['model_size', 'resume', 'steps']));
    expect(e2.message).toContain(join(runA, 'config.json'));
    expect(e2.message).toMatch(/model_size small.*'tiny'/);
    expect(await readFile(join(runA, 'config.json'), 'utf8')).toBe(before);
    expect((await loadCheckpoint(runA)).step).toBe(5);
  });

  // A train record that a flag could never produce (hand-edited, corrupt): checked like the flags, before anything runs.
  for (const [field, value, expected] of [
    ['batch_size', -4, 'must be a positive integer, got -4'],
    ['batch_size', '8', "must be a positive integer, got '8'"],
    ['batch_size', 1e9, 'is 1000000000, above the limit of 4096'],
    ['lr', 'fast', "must be a non-negative number, got 'fast'"],
    ['flip', 'yes', "must be a boolean, got 'yes'"],
    ['sample_steps', 1e9, 'is 1000000000, above the limit of 10000'],
    ['seed', 0.5, 'must be an integer, got 0.5'],
    ['steps', null, 'must be a non-negative integer, got null'],
  ] as const) {
    it(`a saved train.${field} of ${JSON.stringify(value)} is a CheckpointError naming config.json and the field; nothing changes`, async () => {
      const dir = join(root, `bad-train-${field}-${String(value)}`);
      await cp(runA, dir, { recursive: true });
      const cfgPath = join(dir, 'config.json');
      const meta = JSON.parse(await readFile(cfgPath, 'utf8'));
      meta.train[field] = value;
      await writeFile(cfgPath, JSON.stringify(meta));
      const before = await Promise.all((await readdir(dir)).sort().map(async (f) => [f, existsSync(join(dir, f, '.')) ? 'dir' : (await readFile(join(dir, f))).toString('base64')]));
      const e = await trainError(smallRun(root, data, { resume: dir, steps: 8 }), new Set(['resume', 'steps'].filter((k) => k !== field)));
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.message).toBe(`${cfgPath}: field 'train.${field}' ${expected}`);
      const after = await Promise.all((await readdir(dir)).sort().map(async (f) => [f, existsSync(join(dir, f, '.')) ? 'dir' : (await readFile(join(dir, f))).toString('base64')]));
      expect(after).toEqual(before);
    });
  }

  it('a bad saved value that a flag overrides is not used, so it is not an error', async () => {
    const dir = join(root, 'bad-train-overridden');
    await cp(runA, dir, { recursive: true });
    const cfgPath = join(dir, 'config.json');
    const meta = JSON.parse(await readFile(cfgPath, 'utf8'));
    meta.train.batch_size = -4;
    await writeFile(cfgPath, JSON.stringify(meta));
    // Resuming a finished run (step 5 of 5) trains nothing, so this is cheap.
    const r = await train(smallRun(root, data, { resume: dir, batch_size: 4 }), new Set(['resume', 'batch_size']), () => {});
    expect(r.step).toBe(5);
  });

  it('an --img_size equal to the checkpoint is accepted (not a mismatch)', async () => {
    // Resuming a finished run with the same total does no step; the checkpoint is untouched.
    const before = await readFile(join(runA, 'config.json'), 'utf8');
    const r = await timed('resume of a finished run', () => train(smallRun(root, data, { img_size: 16, resume: runA }), new Set(['img_size', 'resume']), () => {}));
    expect(r.step).toBe(5);
    expect(await readFile(join(runA, 'config.json'), 'utf8')).toBe(before);
  });

  it('a --steps 0 checkpoint (no optimizer state) is refused, pointing at --init_from', async () => {
    const dir = join(root, 'init0');
    await train(smallRun(dir, data, { steps: 0 }), new Set(['steps']), () => {});
    expect((await loadCheckpoint(dir)).optimizer).toBeUndefined();
    const e = await trainError(smallRun(dir, data, { resume: dir, steps: 3 }), new Set(['resume', 'steps']));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toContain(join(dir, 'config.json'));
    expect(e.message).toMatch(/no optimizer state/);
    expect(e.message).toContain('--init_from');
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(false);
  });

  it('a missing --resume directory is named', async () => {
    const dir = join(root, 'nope');
    const e = await trainError(smallRun(dir, data, { resume: dir, steps: 3 }), new Set(['resume', 'steps']));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toContain(dir);
    expect(e.message).toMatch(/not found/);
  });
});

describe('--init_from (weak-to-strong)', () => {
  it('a 16 px checkpoint starts a 32 px run: pos_embed resampled from the EMA, everything else carried over, and it trains', async () => {
    const from: Checkpoint = await loadCheckpoint(runA);
    const dir = join(root, 'w2s');
    const c = collectLog();
    // A vanishing lr keeps the weights at their initial values, so the carried-over init can be checked exactly.
    const r = await timed('init_from 16 -> 32 px, 2 steps', () =>
      train(smallRun(dir, data, { init_from: runA, img_size: 32, steps: 2, lr: 1e-12, log_every: 1 }), new Set(['init_from', 'img_size', 'steps']), c.log));
    expect(r.step).toBe(2);
    expect(c.lines.join('\n')).toMatch(/16px.*-> 32px/);
    const ck = await loadCheckpoint(dir);
    expect(ck.step).toBe(2);
    expect(ck.config).toEqual({ ...from.config, img_size: 32 });
    expect(ck.optimizer?.step).toBe(2);
    const dim = (from.config as LiquidFlowConfig).dim;
    expect(ck.weights.pos_embed.length).toBe(liquidFlowDims(ck.config as LiquidFlowConfig).tokens * dim);
    const resized = resizePosEmbed(from.ema.pos_embed, 4, 8, dim);
    expect(maxAbsDiff({ p: ck.weights.pos_embed }, { p: resized })).toBeLessThan(1e-6);
    expect(maxAbsDiff({ p: ck.ema.pos_embed }, { p: resized })).toBeLessThan(1e-6);
    const rest = (w: Record<string, Float32Array>) => Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'pos_embed'));
    expect(maxAbsDiff(rest(ck.weights), rest(from.ema))).toBeLessThan(1e-6);
    const rows = await metricRows(dir);
    expect(rows.map((x) => x.step)).toEqual([1, 2]);
    for (const row of rows) expect(Number.isFinite(row.loss) && row.loss > 0).toBe(true);
    // It is a new run: step counts and metrics start over, and it resumes like any other.
    expect(ck.train).toMatchObject({ img_size: 32, steps: 2 });
    expect(ck.train?.init_from).toBeUndefined();
  });

  it('the init_from run really trains at 32 px (a normal lr moves the weights)', async () => {
    const dir = join(root, 'w2s-train');
    await timed('init_from 16 -> 32 px, 2 steps, lr 1e-3', () =>
      train(smallRun(dir, data, { init_from: runA, img_size: 32, steps: 2 }), new Set(['init_from', 'img_size', 'steps']), () => {}));
    const from = await loadCheckpoint(runA);
    const ck = await loadCheckpoint(dir);
    const rest = (w: Record<string, Float32Array>) => Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'pos_embed'));
    expect(maxAbsDiff(rest(ck.weights), rest(from.ema))).toBeGreaterThan(1e-4);
  });
});
