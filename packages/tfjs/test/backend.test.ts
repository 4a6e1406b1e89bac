// Backend selection on a machine without the optional tfjs-node packages: auto picks wasm and says why the native
// backends were skipped; an explicit request for a missing native backend fails with the install command.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_PRIORITY, describeChoice, selectBackend } from '@liquidflow/tfjs';

const require = createRequire(import.meta.url);
const installed = (pkg: string) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

describe('selectBackend', () => {
  it('this machine has no tfjs-node packages (precondition of the tests below)', () => {
    expect(installed('@tensorflow/tfjs-node')).toBe(false);
    expect(installed('@tensorflow/tfjs-node-gpu')).toBe(false);
    expect(installed('@tensorflow/tfjs-backend-wasm')).toBe(true);
  });

  it("auto chooses 'wasm' and reports the native backends as not installed", async () => {
    const choice = await selectBackend();
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.skipped).toEqual([
      { name: 'tensorflow-gpu', reason: 'package not installed' },
      { name: 'tensorflow', reason: 'package not installed' },
    ]);
    // The backend really runs.
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
    expect(y).toBe(11);
  });

  it("'auto' is the same as no argument", async () => {
    const choice = await selectBackend('auto');
    expect(choice.name).toBe('wasm');
    expect(choice.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
  });

  it('describeChoice names the chosen backend and the reasons for skipping', async () => {
    const text = describeChoice(await selectBackend());
    expect(text).toContain('wasm');
    expect(text).toContain('tensorflow-gpu: package not installed');
    expect(text).toContain('tensorflow: package not installed');
    expect(describeChoice({ name: 'cpu', skipped: [] })).toMatch(/backend: cpu$/);
  });

  it("selectBackend('tensorflow') rejects with the install command", async () => {
    await expect(selectBackend('tensorflow')).rejects.toThrow(/backend 'tensorflow' is not available/);
    await expect(selectBackend('tensorflow')).rejects.toThrow(/npm i @tensorflow\/tfjs-node\b/);
  });

  it("selectBackend('tensorflow-gpu') rejects with the gpu package's install command", async () => {
    await expect(selectBackend('tensorflow-gpu')).rejects.toThrow(/npm i @tensorflow\/tfjs-node-gpu/);
  });

  it('an unknown backend name rejects listing the valid names', async () => {
    const err = await selectBackend('bogus' as never).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain("'bogus'");
    for (const name of ['auto', ...BACKEND_PRIORITY]) expect(err!.message).toContain(name);
  });

  it("selectBackend('cpu') and selectBackend('wasm') switch the active backend", async () => {
    expect(await selectBackend('cpu')).toEqual({ name: 'cpu', skipped: [] });
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0])).toBe(5);
    expect(await selectBackend('wasm')).toEqual({ name: 'wasm', skipped: [] });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.tidy(() => tf.mul(tf.scalar(2), tf.scalar(3)).dataSync()[0])).toBe(6);
  });

  it('a failed explicit request leaves the previously selected backend working', async () => {
    await selectBackend('cpu');
    await expect(selectBackend('tensorflow')).rejects.toThrow();
    expect(tf.getBackend()).toBe('cpu');
  });
});
