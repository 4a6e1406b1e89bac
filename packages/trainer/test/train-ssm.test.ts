// liquidflow-train --ssm: a new run takes the SSM form from the flag (Mamba-1's 'channel' or the default 'head'); a
// resume or init_from keeps the checkpoint's and refuses a conflicting flag; a bad value fails naming the flag; a
// channel run trains on the ORT engine and resumes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type LiquidFlowConfig, flatLayout, liquidFlowDims, paramSpecs } from '@liquidflow/core';
import { CheckpointError, loadCheckpoint } from '@liquidflow/checkpoint';
import { train } from '@liquidflow/trainer';
import { smallRun, writeFashionMnistFixture, trainError } from './helpers';

let root: string;
let data: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'liquidflow-ssm-'));
  data = await writeFashionMnistFixture(join(root, 'data'), 32);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('liquidflow-train --ssm', () => {
  it("--ssm channel writes Mamba-1's parameters and a config that says so; without the flag it says head", async () => {
    const out = join(root, 'channel0');
    await train(smallRun(out, data, { steps: 0, ssm: 'channel' }), new Set(['steps', 'ssm']), () => {});
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).config.ssm).toBe('channel');
    const ck = await loadCheckpoint(out);
    const cfg = ck.config as LiquidFlowConfig;
    expect(cfg.ssm).toBe('channel');
    const { inner, dtRank } = liquidFlowDims(cfg);
    expect(dtRank).toBe(Math.ceil(cfg.dim / 16));
    const w = ck.weights;
    expect(w['blocks.0.ssm.x_proj.weight']).toHaveLength(inner * (dtRank + 2 * cfg.d_state));
    expect(w['blocks.0.ssm.dt_proj.weight']).toHaveLength(dtRank * inner);
    expect(w['blocks.0.ssm.dt_bias']).toBeUndefined();
    // S4D-real: A_log[d, n] = log(n + 1) in every channel; softplus(dt bias) in [1e-3, 1e-1].
    const aLog = w['blocks.0.ssm.A_log'];
    expect(aLog).toHaveLength(inner * cfg.d_state);
    for (let i = 0; i < aLog.length; i++) expect(aLog[i]).toBeCloseTo(Math.log((i % cfg.d_state) + 1), 6);
    // As in Mamba-1, neither A_log nor D is weight-decayed (both engines decay the rank >= 2 parameters only).
    const layout = flatLayout(paramSpecs(cfg));
    for (const name of ['blocks.0.ssm.A_log', 'blocks.0.ssm.D']) expect(layout.offsets.get(name)).toBeGreaterThanOrEqual(layout.decayed);
    expect(layout.offsets.get('blocks.0.ssm.dt_proj.weight')).toBeLessThan(layout.decayed);
    for (const b of w['blocks.0.ssm.dt_proj.bias']) {
      const dt = Math.log1p(Math.exp(b));
      expect(dt).toBeGreaterThanOrEqual(1e-3 * 0.999);
      expect(dt).toBeLessThanOrEqual(1e-1 * 1.001);
    }

    const head = join(root, 'head0');
    await train(smallRun(head, data, { steps: 0 }), new Set(['steps']), () => {});
    expect(JSON.parse(await readFile(join(head, 'config.json'), 'utf8')).config.ssm).toBe('head');
    expect((await loadCheckpoint(head)).weights['blocks.0.ssm.dt_bias']).toBeDefined();
  });

  it('a bad ssm fails naming the field and the choices, before touching --out', async () => {
    const out = join(root, 'bad');
    const e = await trainError(smallRun(out, data, { steps: 0, ssm: 'mamba' }), new Set(['steps', 'ssm']));
    expect(e).toBeInstanceOf(ConfigError);
    // train() checks it as a config field (the CLI checks the flag first: '--ssm must be one of head, channel, ...').
    expect(e.message).toBe(`variant 'tiny': field 'ssm' must be one of head, channel, got "mamba"`);
    expect(existsSync(out)).toBe(false);
    const e2 = await trainError(smallRun(out, data, { steps: 0, ssm: 'channel', arch: 'liquiddiffusion' }), new Set(['steps', 'ssm', 'arch']));
    expect(e2.message).toBe('--ssm is not an option of --arch liquiddiffusion');
  });

  it('a channel run trains on the ORT engine; --resume keeps channel, and a conflicting --ssm is refused', async () => {
    const out = join(root, 'run');
    const r = await train(smallRun(out, data, { steps: 3, ssm: 'channel', backend: 'ort' }), new Set(['steps', 'ssm', 'backend']), () => {});
    expect(Number.isFinite(r.lastLoss)).toBe(true);
    const e = await trainError(smallRun(root, data, { resume: out, steps: 5, ssm: 'head', backend: 'ort' }), new Set(['resume', 'steps', 'ssm', 'backend']));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toBe(`${join(out, 'config.json')}: --ssm head does not match the checkpoint's ssm "channel"`);
    const fromInit = await trainError(smallRun(join(root, 'w2s'), data, { init_from: out, img_size: 32, steps: 1, ssm: 'head' }), new Set(['init_from', 'img_size', 'steps', 'ssm']));
    expect(fromInit.message).toMatch(/--ssm head does not match the checkpoint's ssm "channel" \(--init_from keeps the architecture\)/);
    // Without the flag the resume continues the channel model.
    const r2 = await train(smallRun(root, data, { resume: out, steps: 5, backend: 'ort' }), new Set(['resume', 'steps', 'backend']), () => {});
    expect(r2.step).toBe(5);
    const ck = await loadCheckpoint(out);
    expect((ck.config as LiquidFlowConfig).ssm).toBe('channel');
    expect(ck.step).toBe(5);
  });
});
