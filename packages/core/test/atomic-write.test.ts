// writeFileAtomicWith, the one atomic-write implementation (trainer, exporter and liquidflow-generate use it): the
// target is either the old file or the new one, a failure at any step removes the temp file and names the target.
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicTempPath, writeFileAtomicWith, type AtomicWriteFs } from '@liquidflow/core';

const dir = mkdtempSync(join(tmpdir(), 'lf-atomic-'));
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

/** node:fs/promises with one step made to fail the way a full disk or a bad disk does. */
function failing(step: 'write' | 'sync' | 'rename'): AtomicWriteFs {
  const err = () => Object.assign(new Error(`${step === 'write' ? 'ENOSPC: no space left on device' : 'EIO: i/o error'}, ${step}`), { code: step === 'write' ? 'ENOSPC' : 'EIO' });
  return {
    async open(path, flags) {
      const fh = await fs.open(path, flags);
      return {
        async writeFile(data) {
          const bytes = typeof data === 'string' ? Buffer.from(data) : data;
          if (step !== 'write') return fh.writeFile(bytes);
          await fh.writeFile(bytes.subarray(0, bytes.length >> 1)); // a torn write, then the disk is full
          throw err();
        },
        sync: () => (step === 'sync' ? Promise.reject(err()) : fh.sync()),
        close: () => fh.close(),
      };
    },
    rename: (a, b) => (step === 'rename' ? Promise.reject(err()) : fs.rename(a, b)),
    rm: (p, o) => fs.rm(p, o),
  };
}

describe('writeFileAtomicWith', () => {
  it('the temp file is a hidden sibling of the target', () => {
    expect(atomicTempPath('/a/b/grid.png')).toMatch(/^\/a\/b\/\.grid\.png\.tmp-\d+-\d+$/);
    expect(atomicTempPath('grid.png')).toMatch(/^\.grid\.png\.tmp-\d+-\d+$/);
    expect(atomicTempPath('/a/b/x')).not.toBe(atomicTempPath('/a/b/x'));
  });

  it('replaces the file and leaves nothing else', async () => {
    const path = join(dir, 'ok.png');
    await fs.writeFile(path, 'old');
    await writeFileAtomicWith(fs, path, new Uint8Array([1, 2, 3]));
    expect([...(await fs.readFile(path))]).toEqual([1, 2, 3]);
    expect((await fs.readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  for (const step of ['write', 'sync', 'rename'] as const) {
    it(`a failing ${step} keeps the old file byte-identical, removes the temp file and names the target`, async () => {
      const sub = await fs.mkdtemp(join(dir, `${step}-`));
      const path = join(sub, 'out.onnx');
      const old = Buffer.from('the previous good file');
      await fs.writeFile(path, old);
      const e = await writeFileAtomicWith(failing(step), path, new Uint8Array(1 << 20).fill(7)).then(() => null, (x: NodeJS.ErrnoException) => x);
      expect(e, 'the write should have failed').not.toBeNull();
      expect(e!.code).toBe(step === 'write' ? 'ENOSPC' : 'EIO');
      expect(e!.message).toContain(`cannot write ${path}`);
      expect((await fs.readFile(path)).equals(old)).toBe(true);
      expect(await fs.readdir(sub)).toEqual(['out.onnx']);
    });
  }

  it('a target that is a folder fails on rename and leaves no temp file', async () => {
    const sub = await fs.mkdtemp(join(dir, 'isdir-'));
    await fs.mkdir(join(sub, 'grid.png'));
    await expect(writeFileAtomicWith(fs, join(sub, 'grid.png'), 'x')).rejects.toThrow(join(sub, 'grid.png'));
    expect(await fs.readdir(sub)).toEqual(['grid.png']);
  });

  it('a missing folder fails naming the target, not the temp file', async () => {
    const path = join(dir, 'no-such-folder', 'grid.png');
    const e = await writeFileAtomicWith(fs, path, 'x').then(() => null, (x: NodeJS.ErrnoException) => x);
    expect(e?.code).toBe('ENOENT');
    expect(e?.message.startsWith(`cannot write ${path}: ENOENT`), e?.message).toBe(true);
  });
});
