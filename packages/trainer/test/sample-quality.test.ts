// Sample quality (issue 11) end to end on fixtures in the real formats: labelled splits (Fashion-MNIST IDX with
// labels, an emoji-datasource folder with emoji.json), a feature network trained from labels on onnxruntime, the
// evaluator's floor and scores, liquidflow-eval on a folder and on a model, and the trainer's --eval_every.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { encodePng, resolveConfig } from '@liquidflow/core';
import { freshCheckpoint } from '@liquidflow/checkpoint';
import { exportBytes } from '@liquidflow/exporter';
import onnxProto from 'onnx-proto';
import {
  DatasetError, FeatureNetwork, QualityEvaluator, emojiCategories, loadLabeledSplits, parseIdxLabels, train, trainFeatureNet,
} from '@liquidflow/trainer';
import { idxLabels, smallRun, syntheticImages, writeLabeledFashionFixture } from './helpers.js';

const run = promisify(execFile);
const EVAL_CLI = join(import.meta.dirname, '../dist/eval-cli.js');
let dir: string;
let fashion: string;
let netPath: string;
let accuracy: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lf-quality-'));
  fashion = await writeLabeledFashionFixture(join(dir, 'fashion'));
  netPath = join(dir, 'nets', 'fashion.onnx');
  const record = await trainFeatureNet({
    dataset: 'fashion-mnist', dataDir: fashion, out: netPath, epochs: 15, batch: 16, lr: 3e-3, seed: 0, imgSize: 16, widths: [8, 8, 16],
    threads: 1, command: 'test', log: () => {},
  });
  accuracy = record.held_out_accuracy;
}, 120_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('labelled splits', () => {
  it('Fashion-MNIST: train and t10k with their labels, at the requested size', async () => {
    const s = await loadLabeledSplits('fashion-mnist', 16, fashion);
    expect(s.classes).toHaveLength(10);
    expect([s.train.count, s.heldOut.count]).toEqual([240, 90]);
    expect(s.train.pixels.length).toBe(240 * 16 * 16 * 3);
    expect(Array.from(s.heldOut.labels.slice(0, 6))).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('an IDX label file that is not one, or names a class that does not exist, fails naming the file', () => {
    expect(() => parseIdxLabels(new Uint8Array(12), 'labels.idx', 10)).toThrow(/labels\.idx: not an IDX uint8 label file/);
    expect(() => parseIdxLabels(idxLabels(Uint8Array.of(1, 12)), 'labels.idx', 10)).toThrow(/labels\.idx: label 12 at index 1/);
    const cut = idxLabels(Uint8Array.of(1, 2, 3)).slice(0, 9);
    expect(() => parseIdxLabels(cut, 'labels.idx', 10)).toThrow(DatasetError);
  });

  it('emoji: categories from emoji.json (skin-tone variants share their base emoji\'s), split by file name', async () => {
    const pkg = join(dir, 'emoji-datasource-test');
    const pngs = join(pkg, 'img', 'google', '64');
    await mkdir(pngs, { recursive: true });
    const list: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      const category = i % 2 ? 'Flags' : 'Smileys & Emotion';
      const image = `e${i}.png`;
      const variant = `e${i}-1f3fb.png`;
      list.push({ image, category, skin_variations: i % 2 ? {} : { '1F3FB': { image: variant } } });
      for (const name of i % 2 ? [image] : [image, variant]) {
        const px = new Uint8ClampedArray(8 * 8 * 4).fill(i % 2 ? 40 : 220).map((v, j) => (j % 4 === 3 ? 255 : v));
        await writeFile(join(pngs, name), encodePng(8, 8, px));
      }
    }
    await writeFile(join(pkg, 'emoji.json'), JSON.stringify(list));
    expect(emojiCategories(join(pkg, 'emoji.json')).get('e0-1f3fb.png')).toEqual({ category: 'Smileys & Emotion', base: 'e0.png' });
    const s = await loadLabeledSplits('emoji', 8, pkg);
    expect(s.classes).toEqual(['Flags', 'Smileys & Emotion']);
    expect(s.train.count + s.heldOut.count).toBe(60);
    expect(s.heldOut.count).toBeGreaterThan(5);
    // Labels follow the pictures: Flags are the dark ones.
    const per = 8 * 8 * 3;
    for (const part of [s.train, s.heldOut]) {
      for (let i = 0; i < part.count; i++) expect(part.pixels[i * per] < 128 ? 0 : 1).toBe(part.labels[i]);
    }
    // Each smiley has one skin-tone variant, kept on its base's side of the split: an even number of each side's smileys.
    for (const part of [s.train, s.heldOut]) expect(Array.from(part.labels).filter((l) => l === 1).length % 2).toBe(0);
    const again = await loadLabeledSplits('emoji', 8, pkg);
    expect(again.heldOut.labels).toEqual(s.heldOut.labels);
  });
});

describe('feature network', () => {
  it('learns the labels: held-out accuracy recorded in the file and reproduced when loaded', async () => {
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
    const net = await FeatureNetwork.load(netPath);
    expect(net.record).toMatchObject({ format: 'liquidflow-feature-net', version: 1, held_out_count: 90, train_count: 240 });
    expect(net.width).toBe(16);
    const s = await loadLabeledSplits('fashion-mnist', 16, fashion);
    expect(await net.accuracy(s.heldOut.pixels, s.heldOut.labels, 16)).toBe(accuracy);
    // Images of another size are resized the way the trainer resizes data, not refused (28 -> 32 -> 16 px here, a
    // little blurrier than 28 -> 16).
    const big = await loadLabeledSplits('fashion-mnist', 32, fashion);
    expect(await net.accuracy(big.heldOut.pixels, big.heldOut.labels, 32)).toBeGreaterThanOrEqual(0.8);
    await net.dispose();
  });

  it('a file that is not a feature network fails naming it', async () => {
    const bad = join(dir, 'model.onnx');
    await writeFile(bad, exportBytes(freshCheckpoint(resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 }), 0)).bytes);
    await expect(FeatureNetwork.load(bad)).rejects.toThrow(/model\.onnx: not a LiquidFlow feature network/);
    await expect(FeatureNetwork.load(join(dir, 'missing.onnx'))).rejects.toThrow(/missing\.onnx: feature network not found/);
  });

  it('a feature network whose record is from a newer format, or whose config is out of range, fails naming the file', async () => {
    const edit = async (name: string, change: (r: Record<string, any>) => void) => {
      const m = onnxProto.onnx.ModelProto.decode(new Uint8Array(await readFile(netPath)));
      const entry = m.metadataProps!.find((p) => p.key === 'liquidflow.feature_net')!;
      const record = JSON.parse(entry.value!);
      change(record);
      entry.value = JSON.stringify(record);
      const path = join(dir, name);
      await writeFile(path, onnxProto.onnx.ModelProto.encode(m).finish());
      return path;
    };
    await expect(FeatureNetwork.load(await edit('v2.onnx', (r) => (r.version = 2)))).rejects.toThrow(/v2\.onnx: .*version 2, expected liquidflow-feature-net version 1/);
    await expect(FeatureNetwork.load(await edit('size.onnx', (r) => (r.config.img_size = 12)))).rejects.toThrow(/size\.onnx .*img_size must be a multiple of 8/);
  });
});

describe('QualityEvaluator', () => {
  it('real images score near the held-out floor; blank images far from it, with no precision', async () => {
    const q = await QualityEvaluator.create({ dataset: 'fashion-mnist', dataDir: fashion, count: 60, featureNet: netPath });
    expect(q.count).toBe(60);
    expect(q.floor.fd).toBeGreaterThan(0);
    expect(q.floor.precision).toBeGreaterThan(0.6);
    const s = await loadLabeledSplits('fashion-mnist', 16, fashion);
    const real = await q.score(s.train.pixels.subarray(0, 60 * 16 * 16 * 3), 60, 16);
    const blank = await q.score(new Uint8Array(60 * 16 * 16 * 3).fill(255), 60, 16);
    expect(real.fd).toBeLessThan(blank.fd / 4);
    expect(real.precision).toBeGreaterThan(0.6);
    expect(blank.precision).toBeLessThan(0.1);
    // count above the held-out split: lowered, and said.
    const notes: string[] = [];
    const capped = await QualityEvaluator.create({ dataset: 'fashion-mnist', dataDir: fashion, count: 500, featureNet: netPath, onNote: (l) => notes.push(l) });
    expect(capped.count).toBe(90);
    expect(notes.join()).toMatch(/--count 500 is more than the 90 held-out/);
    await Promise.all([q.dispose(), capped.dispose()]);
  });
});

describe('liquidflow-eval', () => {
  it('scores a folder of PNGs and a model file, as JSON and as a table', async () => {
    const folder = join(dir, 'pngs');
    await mkdir(folder, { recursive: true });
    const gray = syntheticImages(40);
    for (let i = 0; i < 40; i++) {
      const px = new Uint8ClampedArray(28 * 28 * 4);
      for (let p = 0; p < 28 * 28; p++) px.set([255 - gray[i * 784 + p], 255 - gray[i * 784 + p], 255 - gray[i * 784 + p], 255], p * 4);
      await writeFile(join(folder, `${i}.png`), encodePng(28, 28, px));
    }
    const args = ['--dataset', 'fashion-mnist', '--data_dir', fashion, '--features', netPath, '--count', '40'];
    const json = JSON.parse((await run('node', [EVAL_CLI, folder, ...args, '--json'])).stdout);
    expect(json).toMatchObject({ dataset: 'fashion-mnist', count: 40, feature_net: { path: netPath, width: 16 } });
    expect(json.generated.fd).toBeGreaterThan(0);
    expect(json.generated.precision).toBeGreaterThan(0.5);

    const model = join(dir, 'untrained.onnx');
    await writeFile(model, exportBytes(freshCheckpoint(resolveConfig('tiny', { img_size: 16, dim: 32, depth: 2, head_dim: 16, d_state: 8 }), 0)).bytes);
    const table = (await run('node', [EVAL_CLI, model, ...args, '--steps', '2', '--sampler', 'euler'])).stdout;
    expect(table).toMatch(/40 images from .*untrained\.onnx, euler 2 steps, seed 0/);
    const row = (name: string) => table.split('\n').find((l) => l.startsWith(name))!.trim().split(/\s+/).slice(-3).map(Number);
    const [genFd] = row('generated');
    const [floorFd] = row('real (held-out)');
    expect(genFd).toBeGreaterThan(4 * floorFd); // an untrained model's noise is far from the data
  }, 120_000);

  it('bad input fails with the flag named', async () => {
    await expect(run('node', [EVAL_CLI, netPath])).rejects.toMatchObject({ stderr: expect.stringMatching(/--dataset is required/) });
    await expect(run('node', [EVAL_CLI, netPath, '--dataset', 'folder'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--dataset folder: sample quality knows fashion-mnist, emoji/) });
    await expect(run('node', [EVAL_CLI, join(dir, 'nope.onnx'), '--dataset', 'fashion-mnist'])).rejects.toMatchObject({ stderr: expect.stringMatching(/nope\.onnx: no such model file or image folder/) });
    await expect(run('node', [EVAL_CLI, netPath, '--dataset', 'fashion-mnist', '--count', '2'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--count must be an integer in \[4, 100000\]/) });
  });
});

describe('liquidflow-train --eval_every', () => {
  it('writes eval rows to metrics.jsonl and draws FD under the loss curve; a resume keeps them', async () => {
    const out = join(dir, 'run');
    const o = smallRun(out, fashion, { backend: 'ort', steps: 4, eval_every: 2, eval_count: 12, eval_features: netPath, sample_every: 2, save_every: 2 });
    await train(o, new Set(), () => {});
    const rows = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const evals = rows.filter((r) => r.kind === 'eval');
    expect(evals.map((r) => r.step)).toEqual([2, 4]);
    for (const r of evals) {
      expect(r).toMatchObject({ count: 12, sampler: 'euler', sampling_steps: 2 });
      expect(r.fd).toBeGreaterThan(0);
      expect(r.real_fd).toBeGreaterThan(0);
    }
    expect(rows.filter((r) => r.kind === undefined)).toHaveLength(4);
    const png = PNG.sync.read(await readFile(join(out, 'loss.png')));
    expect([png.width, png.height]).toEqual([640, 560]);
    await train({ ...o, resume: out, steps: 6 }, new Set(['steps', 'resume']), () => {});
    const after = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(after.filter((r) => r.kind === 'eval').map((r) => r.step)).toEqual([2, 4, 6]);
  }, 180_000);

  it('refuses --eval_every on a dataset with no feature network', async () => {
    await expect(train(smallRun(join(dir, 'run2'), fashion, { dataset: 'folder', eval_every: 2, steps: 2 }), new Set(), () => {})).rejects.toThrow(/--eval_every: sample quality needs a feature network/);
  });
});
