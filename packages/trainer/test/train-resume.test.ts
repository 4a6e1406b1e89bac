// Exact resume and crash safety of the training loop, on each training engine (TF.js wasm and onnxruntime), on the tiny
// Fashion-MNIST fixture (tiny at 16 px, batch 4):
//  - `--steps 6` then `--resume DIR --steps 12` ends bit-identical (weights, EMA, AdamW moments and step, metrics) to
//    one uninterrupted `--steps 12` run;
//  - the CLI killed with SIGKILL at random moments of a run that saves every step always leaves a checkpoint that
//    loads and whole PNGs (sample grids, loss.png), and `--resume` finishes the run, again bit-identical to the
//    uninterrupted one;
//  - Ctrl-C (SIGINT) between checkpoints writes one at the step reached, and the resumed run is again the same.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { PNG } from 'pngjs';
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint, type Checkpoint } from '@liquidflow/checkpoint';
import { train } from '@liquidflow/trainer';
import { maxAbsDiff, smallRun, smallRunFlags, writeFashionMnistFixture, timer } from './helpers';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(repo, 'packages/trainer/dist/cli.js');
const TOTAL = 12;

let root: string;
let data: string;
const timings: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'liquidflow-resume-'));
  data = await writeFashionMnistFixture(join(root, 'data'), 64);
});

afterAll(async () => {
  console.log(`train-resume timings:\n  ${timings.join('\n  ')}`);
  await rm(root, { recursive: true, force: true });
});

const timed = timer(timings);

/** metrics.jsonl rows; a line cut by a kill is skipped (as the trainer itself does). */
async function metricRows(dir: string): Promise<{ step: number; loss: number }[]> {
  if (!existsSync(join(dir, 'metrics.jsonl'))) return [];
  const rows = [];
  for (const line of (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).split('\n')) {
    try {
      if (line.trim()) rows.push(JSON.parse(line));
    } catch {
      // torn last line
    }
  }
  return rows;
}

function expectSameState(a: Checkpoint, b: Checkpoint, what: string) {
  expect(a.step, what).toBe(b.step);
  expect(maxAbsDiff(a.weights, b.weights), `${what}: weights`).toBe(0);
  expect(maxAbsDiff(a.ema, b.ema), `${what}: ema`).toBe(0);
  expect(a.optimizer?.step, `${what}: optimizer step`).toBe(b.optimizer?.step);
  expect(maxAbsDiff(a.optimizer!.m, b.optimizer!.m), `${what}: adam m`).toBe(0);
  expect(maxAbsDiff(a.optimizer!.v, b.optimizer!.v), `${what}: adam v`).toBe(0);
}

for (const backend of ['wasm', 'ort'] as const) {
  let reference: Checkpoint | undefined; // the uninterrupted 12-step run on this engine
  let referenceRows: { step: number; loss: number }[] = [];
  describe(`${backend} engine`, () => {
    describe('exact resume', () => {
      it('--steps 6 then --resume --steps 12 equals one --steps 12 run (weights, EMA, optimizer, metrics)', async () => {
        const whole = join(root, `whole-${backend}`);
        const split = join(root, `split-${backend}`);
        await timed(`${backend}: uninterrupted 12 steps`, () => train(smallRun(whole, data, { steps: TOTAL, backend }), new Set(['steps']), () => {}));
        await timed(`${backend}: first 6 steps`, () => train(smallRun(split, data, { steps: 6, save_every: 4, sample_every: 3, backend }), new Set(['steps']), () => {}));
        const six = await loadCheckpoint(split);
        expect(six.step).toBe(6);
        // As a run killed after logging step 7 but before saving it would leave: a row past the checkpoint and a torn line.
        await appendFile(join(split, 'metrics.jsonl'), '{"step":7,"loss":123}\n{"step":8,"lo');
        // Only --resume and --steps are given: every other option comes from the checkpoint.
        const r = await timed(`${backend}: resume 6 -> 12`, () =>
          train({ ...smallRun(join(root, `ignored-${backend}`), data, { lr: 5, batch_size: 2, backend }), resume: split, steps: TOTAL }, new Set(['resume', 'steps']), () => {}));
        expect(r.step).toBe(TOTAL);
        expect(r.dir).toBe(split);
        expect(existsSync(join(root, `ignored-${backend}`))).toBe(false);

        reference = await loadCheckpoint(whole);
        const resumed = await loadCheckpoint(split);
        expectSameState(resumed, reference, 'resumed vs uninterrupted');
        expect(resumed.optimizer?.step).toBe(TOTAL);
        expect(maxAbsDiff(resumed.weights, six.weights)).toBeGreaterThan(0); // it did train on

        referenceRows = await metricRows(whole);
        const rows = await metricRows(split);
        expect(rows.map((x) => x.step)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
        expect(rows.map((x) => x.loss)).toEqual(referenceRows.map((x) => x.loss));
        // The resumed run keeps the saved sample cadence (every 3) rather than the one passed in (1000).
        expect((await readdir(join(split, 'samples'))).sort()).toEqual(['step_00000003.png', 'step_00000006.png', 'step_00000009.png', 'step_00000012.png']);
        expect((await readdir(split)).filter((f) => /^(model|weights|ema|optimizer)-|\.tmp-/.test(f)).sort()).toEqual(
          ['ema-00000012.bin', 'model-00000012.json', 'optimizer-00000012.bin', 'weights-00000012.bin']);
      });
    });

    describe('SIGKILL at random moments', () => {
      interface Round {
        when: string;
        delayMs: number;
        exit: string;
        reached: number;
        checkpoint: number;
        /** Temp files or a second step's stamped files were on disk: the kill landed inside a save. */
        midSave: boolean;
      }

      /** Starts the CLI, waits until `ready(stderr, pid)`, then `delayMs` more, and SIGKILLs it (unless it already exited). */
      async function killDuring(args: string[], ready: (stderr: string, pid: number) => boolean, delayMs: number): Promise<{ exit: string; stderr: string; caught: boolean }> {
        const child = spawn(process.execPath, [CLI, ...args], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
        let done = false;
        void exited.then(() => (done = true));
        const deadline = Date.now() + 60_000;
        let caught = false;
        while (!done && !(caught = ready(stderr, child.pid as number)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        if (!done) child.kill('SIGKILL');
        return { exit: await exited, stderr, caught };
      }

      it('always leaves a checkpoint that loads, at a step the run reached; --resume then finishes exactly', async () => {
        expect(existsSync(CLI), `${CLI} is missing: run npm run build`).toBe(true);
        const dir = join(root, `killed-${backend}`);
        const rounds: Round[] = [];
        const log = () => JSON.stringify(rounds);
        let previous = 0;
        const t0 = performance.now();
        // 1: a fresh run, killed 0-2 s after its first checkpoint appears; 2: a resume killed 0-0.3 s after it has read
        // its checkpoint (loading data, starting the engine, or the first step: the ort engine's steps are so short
        // that a fixed delay after the start could let it finish); 3, 4: resumes killed 0-2 s after their first new step
        // (inside a step or a save); 5: a resume killed the moment one of its saves is seen under way (a temp file of
        // its pid).
        const plan = ['after first save', 'from the start', 'after a new step', 'after a new step', 'inside a save'];
        const saving = (pid: number) => readdirSync(dir).some((x) => x.includes(`.tmp-${pid}-`));
        for (const [i, when] of plan.entries()) {
          // An ort step with its save takes ~0.3 s here, a wasm one several times that: the ort windows are shorter, so a
          // kill still lands before the few remaining steps are done.
          const window = when === 'from the start' ? 300 : backend === 'ort' ? 300 : 2000;
          const delayMs = when === 'inside a save' ? 0 : Math.round(Math.random() * window);
          const args = i === 0
            ? smallRunFlags(dir, data, ['--steps', String(TOTAL), '--save_every', '1', '--sample_every', '5', '--backend', backend])
            : ['--resume', dir, '--backend', backend];
          const next = new RegExp(`(^|\\n)${previous + 1}/${TOTAL} `);
          const ready = (stderr: string, pid: number) =>
            when === 'after first save' ? existsSync(join(dir, 'config.json')) : when === 'after a new step' ? next.test(stderr) : when === 'inside a save' ? saving(pid) : /resuming /.test(stderr);
          const { exit, stderr, caught } = await killDuring(args, ready, delayMs);
          const files = await readdir(dir);
          // The run's pictures are written atomically too: every one on disk is a whole PNG, whenever the kill landed.
          const pictures = [...(files.includes('loss.png') ? ['loss.png'] : []), ...(await readdir(join(dir, 'samples'))).filter((f) => f.endsWith('.png')).map((f) => join('samples', f))];
          for (const f of pictures) expect(() => PNG.sync.read(readFileSync(join(dir, f))), `${f} after kill ${i + 1} (${when})`).not.toThrow();
          const steps = new Set(files.filter((f) => /^weights-\d{8}\.bin$/.test(f)));
          const midSave = files.some((f) => f.includes('.tmp-')) || steps.size > 1;
          const reached = Math.max(0, ...(await metricRows(dir)).map((x) => x.step));
          let ck: Checkpoint;
          try {
            ck = await loadCheckpoint(dir);
          } catch (e) {
            throw new Error(`after kill ${i + 1} (${log()}, ${when} + ${delayMs} ms, ${exit}): ${(e as Error).message}\n${stderr.slice(-2000)}`);
          }
          rounds.push({ when, delayMs, exit, reached, checkpoint: ck.step, midSave });
          expect(caught, `${when}: never seen (${log()})`).toBe(true);
          expect(exit, `${log()}\n${stderr.slice(-2000)}`).toBe('SIGKILL'); // killed before finishing 12 steps
          expect(ck.step, log()).toBeLessThanOrEqual(Math.max(reached, previous));
          expect(ck.step, log()).toBeGreaterThanOrEqual(previous); // never goes back
          expect(ck.step, log()).toBeGreaterThanOrEqual(1);
          expect(ck.optimizer?.step, log()).toBe(ck.step);
          previous = ck.step;
        }
        expect(previous, log()).toBeLessThan(TOTAL);
        timings.push(`${backend}: ${plan.length} killed rounds: ${((performance.now() - t0) / 1000).toFixed(1)} s (${log()})`);

        const fin = await timed(`${backend}: final resume from step ${previous}`, async () =>
          spawnSync(process.execPath, [CLI, '--resume', dir, '--backend', backend], { cwd: repo, encoding: 'utf8', timeout: 240_000 }));
        expect(fin.status, `${log()}\n${fin.stderr.slice(-3000)}`).toBe(0);
        expect(fin.stderr).toContain(`resuming ${dir} at step ${previous}`);
        expect(fin.stderr).toContain(`done: ${dir} at step ${TOTAL}`);
        const ck = await loadCheckpoint(dir);
        expect(ck.step).toBe(TOTAL);
        const rows = await metricRows(dir);
        expect(rows.map((x) => x.step), log()).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
        const files = await readdir(dir);
        expect(files.filter((f) => f.includes('.tmp-')), log()).toEqual([]);
        expect(files.filter((f) => /^(model|weights|ema|optimizer)-/.test(f)).sort()).toEqual(
          ['ema-00000012.bin', 'model-00000012.json', 'optimizer-00000012.bin', 'weights-00000012.bin']);
        // Killed three times and resumed, through the CLI: still the same run as the uninterrupted one.
        if (reference) {
          expectSameState(ck, reference, `killed and resumed (${log()}) vs uninterrupted`);
          expect(rows.map((x) => x.loss)).toEqual(referenceRows.map((x) => x.loss));
        }
      });
    });

    describe('Ctrl-C (SIGINT) between checkpoints', () => {
      it('finishes the step, checkpoints it, exits 0; --resume then ends the same as the uninterrupted run', async () => {
        const dir = join(root, `interrupted-${backend}`);
        // --save_every 100: no checkpoint would be written before step 12 on its own.
        const child = spawn(process.execPath, [CLI, ...smallRunFlags(dir, data, ['--steps', String(TOTAL), '--save_every', '100', '--sample_every', '100', '--backend', backend])],
          { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
        const deadline = Date.now() + 60_000;
        const reached = async () => Math.max(0, ...(await metricRows(dir)).map((r) => r.step));
        while ((await reached()) < 4 && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        child.kill('SIGINT');
        const { code, signal } = await exited;
        expect({ code, signal }, stderr.slice(-2000)).toEqual({ code: 0, signal: null });
        const stoppedAt = Number(/stopped at step (\d+) of 12 \(checkpoint written\); continue with: liquidflow-train --resume /.exec(stderr)?.[1]);
        expect(stoppedAt, stderr.slice(-2000)).toBeGreaterThanOrEqual(4);
        expect(stoppedAt).toBeLessThan(TOTAL);
        const ck = await loadCheckpoint(dir);
        expect(ck.step).toBe(stoppedAt); // every step taken is kept
        expect(await reached()).toBe(stoppedAt);
        expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);

        const fin = spawnSync(process.execPath, [CLI, '--resume', dir, '--backend', backend], { cwd: repo, encoding: 'utf8', timeout: 240_000 });
        expect(fin.status, fin.stderr.slice(-3000)).toBe(0);
        expect(fin.stderr).toContain(`resuming ${dir} at step ${stoppedAt}`);
        const end = await loadCheckpoint(dir);
        expect(end.step).toBe(TOTAL);
        if (reference) expectSameState(end, reference, `stopped at ${stoppedAt} by SIGINT and resumed vs uninterrupted`);
      });
    });
  });
}
