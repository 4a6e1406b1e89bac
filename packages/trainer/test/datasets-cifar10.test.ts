// CIFAR-10 (binary batches) and the tar reader, on fixtures in the real formats made here: batch files of a few
// records, and .tar.gz archives written by a small ustar writer (and by the tar command when there is one).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_RECORD_BYTES,
  DatasetError,
  downloadCifar10,
  liquidflowCacheDir,
  loadCifar10,
  parseCifarBatch,
  readTar,
  readTarFile,
} from '../src/datasets/index.js';

/** n records; record k of batch b: label (b + k) % 10, R = 8x, G = 8y, B = 20 * label. */
function batch(n: number, b: number): Uint8Array {
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let k = 0; k < n; k++) {
    const r = k * CIFAR10_RECORD_BYTES;
    const label = (b + k) % 10;
    out[r] = label;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        out[r + 1 + y * 32 + x] = 8 * x;
        out[r + 1 + 1024 + y * 32 + x] = 8 * y;
        out[r + 1 + 2048 + y * 32 + x] = 20 * label;
      }
    }
  }
  return out;
}

/** A ustar archive: 512-byte headers with checksums, data padded to 512, two zero blocks. */
function tar(entries: { name: string; data?: Uint8Array; type?: string; prefix?: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array(0);
    const h = new Uint8Array(512);
    const put = (s: string, off: number) => h.set(Buffer.from(s, 'utf8'), off);
    put(e.name, 0);
    put('0000644\0', 100);
    put('0001750\0', 108);
    put('0001750\0', 116);
    put(data.length.toString(8).padStart(11, '0') + '\0', 124);
    put('14400000000\0', 136);
    put(e.type ?? '0', 156);
    put('ustar\0', 257);
    put('00', 263);
    if (e.prefix) put(e.prefix, 345);
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, v) => a + v, 0);
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(blocks));
}

const px = (pixels: Uint8Array, size: number, i: number, x: number, y: number) => Array.from(pixels.subarray((i * size * size + y * size + x) * 3, (i * size * size + y * size + x) * 3 + 3));

let root: string;
let parent: string;
let bin: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lf-datasets-cifar-'));
  parent = join(root, 'cifar');
  bin = join(parent, 'cifar-10-batches-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'data_batch_1.bin'), batch(3, 1));
  writeFileSync(join(bin, 'data_batch_2.bin'), batch(4, 2));
  writeFileSync(join(bin, 'test_batch.bin'), batch(2, 7));
  writeFileSync(join(bin, 'batches.meta.txt'), 'airplane\nautomobile\n');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cifar10 batches', () => {
  it('parses records: planar RGB to HWC, labels, and the training batches only', async () => {
    const warnings: string[] = [];
    const progress: [number, number, string][] = [];
    for (const dataDir of [bin, parent]) {
      const ds = await loadCifar10(32, { dataDir, cacheDir: join(root, 'unused-cache'), onWarning: (m) => warnings.push(m), onProgress: (d, t, w) => progress.push([d, t, w]) });
      expect(ds.name).toBe('cifar10');
      expect(ds.source).toBe(bin);
      expect(ds.count).toBe(7);
      expect(Array.from(ds.labels)).toEqual([1, 2, 3, 2, 3, 4, 5]);
      expect(px(ds.pixels, 32, 0, 5, 9)).toEqual([40, 72, 20]);
      expect(px(ds.pixels, 32, 6, 31, 0)).toEqual([248, 0, 100]);
    }
    expect(warnings[0]).toMatch(/data_batch_1\.bin, data_batch_2\.bin of the 5.*missing data_batch_3\.bin/);
    expect(progress.at(-1)).toEqual([7, 7, 'images']);
    expect(existsSync(join(root, 'unused-cache'))).toBe(false);
  });

  it('resizes to the training size', async () => {
    const ds = await loadCifar10(16, { dataDir: bin, onWarning: () => {} });
    expect(ds.pixels.length).toBe(7 * 16 * 16 * 3);
    // 2x2 box average: R = (8 * 2x + 8 * (2x + 1)) / 2.
    expect(px(ds.pixels, 16, 0, 0, 0)).toEqual([4, 4, 20]);
    expect(px(ds.pixels, 16, 0, 15, 15)).toEqual([244, 244, 20]);
  });

  it('rejects a truncated batch file and a wrong label, naming the file', async () => {
    const bad = join(root, 'truncated');
    mkdirSync(bad);
    writeFileSync(join(bad, 'data_batch_1.bin'), batch(3, 0).subarray(0, 2 * CIFAR10_RECORD_BYTES + 1000));
    const err = await loadCifar10(32, { dataDir: bad, onWarning: () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(join(bad, 'data_batch_1.bin'));
    expect(err.message).toMatch(/truncated.*7146 bytes is 2 whole 3073-byte records and 1000 bytes more/);
    const wrong = batch(2, 0);
    wrong[CIFAR10_RECORD_BYTES] = 42;
    expect(() => parseCifarBatch(wrong, 'x.bin')).toThrow(/x\.bin: record 1 has label 42/);
    expect(() => parseCifarBatch(new Uint8Array(0), 'e.bin')).toThrow(/e\.bin: empty/);
  });

  it('errors clearly on a folder without batches', async () => {
    await expect(loadCifar10(32, { dataDir: root })).rejects.toThrow(/no data_batch_1\.bin in it nor in .*cifar-10-batches-bin/);
    await expect(loadCifar10(32, { dataDir: join(root, 'nope') })).rejects.toThrow(/nope: no such file or folder/);
  });

  it('takes the cache root from LIQUIDFLOW_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(liquidflowCacheDir({ LIQUIDFLOW_CACHE: '/data/lf' })).toBe('/data/lf');
    expect(liquidflowCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/liquidflow');
    expect(liquidflowCacheDir({})).toMatch(/\.cache\/liquidflow$/);
  });
});

describe('tar reader', () => {
  it('reads files, folders, ustar prefixes and GNU long names', () => {
    const long = 'd/' + 'x'.repeat(150) + '.bin';
    const bytes = tar([
      { name: './top/', type: '5' },
      { name: './top/a.txt', data: Buffer.from('hello') },
      { name: 'b.bin', prefix: 'top/deep', data: new Uint8Array(1000).fill(7) },
      { name: '././@LongLink', type: 'L', data: Buffer.from(long + '\0') },
      { name: long.slice(0, 99), data: Buffer.from('long one') },
      { name: 'empty', data: new Uint8Array(0) },
    ]);
    const entries = readTar(bytes, 'fixture.tar');
    expect(entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ['top/', '5', 0],
      ['top/a.txt', '0', 5],
      ['top/deep/b.bin', '0', 1000],
      [long, '0', 8],
      ['empty', '0', 0],
    ]);
    expect(Buffer.from(entries[1].data).toString()).toBe('hello');
    expect(entries[2].data.every((v) => v === 7)).toBe(true);
    expect(Buffer.from(entries[3].data).toString()).toBe('long one');
  });

  it('rejects a bad checksum and a truncated archive', () => {
    const bytes = tar([{ name: 'a.bin', data: new Uint8Array(2000) }]);
    const bad = bytes.slice();
    bad[10] ^= 1;
    expect(() => readTar(bad, 'bad.tar')).toThrow(/bad\.tar: not a tar archive, or corrupt \(bad header checksum at byte 0\)/);
    expect(() => readTar(bytes.subarray(0, 1500), 'cut.tar')).toThrow(/cut\.tar: truncated: entry 'a\.bin' needs 2000 bytes/);
    expect(() => readTar(bytes.subarray(0, 300), 'tiny.tar')).toThrow(/tiny\.tar: truncated tar archive/);
  });

  const hasTar = spawnSync('tar', ['--version']).status === 0;
  it.skipIf(!hasTar)('reads archives made by the tar command (gnu and pax formats, long names)', async () => {
    const src = join(root, 'tar-src');
    const long = 'n'.repeat(120);
    mkdirSync(join(src, 'cifar-10-batches-bin', long), { recursive: true });
    writeFileSync(join(src, 'cifar-10-batches-bin', 'data_batch_1.bin'), batch(2, 0));
    writeFileSync(join(src, 'cifar-10-batches-bin', long, 'f.txt'), 'deep');
    for (const format of ['gnu', 'pax', 'ustar']) {
      const out = join(root, `made-${format}.tar.gz`);
      const r = spawnSync('tar', [`--format=${format}`, '-czf', out, '-C', src, 'cifar-10-batches-bin']);
      if (format === 'ustar' && r.status !== 0) continue; // ustar cannot hold the 120-character name.
      expect(r.status, String(r.stderr)).toBe(0);
      const entries = await readTarFile(out);
      const files = Object.fromEntries(entries.filter((e) => e.type === '0').map((e) => [e.name, Buffer.from(e.data)]));
      expect(files['cifar-10-batches-bin/data_batch_1.bin'].equals(Buffer.from(batch(2, 0)))).toBe(true);
      expect(files[`cifar-10-batches-bin/${long}/f.txt`].toString()).toBe('deep');
    }
  });
});

describe('cifar10 archive and download', () => {
  const archiveBytes = () =>
    gzipSync(tar([
      { name: 'cifar-10-batches-bin/', type: '5' },
      { name: 'cifar-10-batches-bin/data_batch_1.bin', data: batch(5, 0) },
      { name: 'cifar-10-batches-bin/batches.meta.txt', data: Buffer.from('airplane\n') },
      { name: 'cifar-10-batches-bin/../evil.bin', data: Buffer.from('x') },
    ]));

  it('extracts a .tar.gz given as --data_dir into the cache, atomically', async () => {
    const cache = join(root, 'cache-archive');
    const file = join(root, 'cifar-10-binary.tar.gz');
    writeFileSync(file, archiveBytes());
    const ds = await loadCifar10(32, { dataDir: file, cacheDir: cache, onWarning: () => {} });
    expect(ds.count).toBe(5);
    expect(ds.source).toBe(join(cache, 'cifar-10-batches-bin'));
    expect(readdirSync(cache)).toEqual(['cifar-10-batches-bin']); // No temp folder left.
    expect(readdirSync(join(cache, 'cifar-10-batches-bin')).sort()).toEqual(['batches.meta.txt', 'data_batch_1.bin']);
    expect(existsSync(join(root, 'evil.bin'))).toBe(false);
  });

  it('rejects an archive without the binary batches', async () => {
    const file = join(root, 'python.tar.gz');
    writeFileSync(file, gzipSync(tar([{ name: 'cifar-10-batches-py/data_batch_1', data: Buffer.from('pickle') }])));
    await expect(loadCifar10(32, { dataDir: file, cacheDir: join(root, 'cache-py') })).rejects.toThrow(/python\.tar\.gz: has no cifar-10-batches-bin\/data_batch_1\.bin/);
    expect(existsSync(join(root, 'cache-py'))).toBe(false);
  });

  /** A fetch serving `body` in chunks, counting its calls. */
  function fakeFetch(body: Uint8Array) {
    const calls: string[] = [];
    const f = (async (url: string | URL | Request) => {
      calls.push(String(url));
      let off = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (off >= body.length) return c.close();
          c.enqueue(body.subarray(off, off + 1000));
          off += 1000;
        },
      });
      return new Response(stream, { headers: { 'content-length': String(body.length) } });
    }) as typeof fetch;
    return { f, calls };
  }

  it('downloads into the cache when missing (progress in bytes, size and MD5 checked), then uses the cache', async () => {
    const body = archiveBytes();
    const cache = join(root, 'cache-download');
    const { f, calls } = fakeFetch(body);
    const progress: [number, number, string][] = [];
    const download = { url: 'https://example.test/cifar-10-binary.tar.gz', fetch: f, expectedSize: body.length, md5: createHash('md5').update(body).digest('hex') };
    const ds = await loadCifar10(32, { cacheDir: cache, download, onProgress: (d, t, w) => progress.push([d, t, w]), onWarning: () => {} });
    expect(ds.count).toBe(5);
    expect(calls).toEqual([download.url]);
    expect(progress.find((p) => p[2] === 'bytes downloaded' && p[0] === body.length)).toEqual([body.length, body.length, 'bytes downloaded']);
    expect(readdirSync(cache)).toEqual(['cifar-10-batches-bin']); // The archive and temp folder are gone.
    const again = await loadCifar10(32, { cacheDir: cache, download, onWarning: () => {} });
    expect(again.count).toBe(5);
    expect(calls.length).toBe(1);
  });

  it('rejects a download of the wrong size or MD5, leaving nothing behind', async () => {
    const body = archiveBytes();
    const cache = join(root, 'cache-bad');
    const { f } = fakeFetch(body);
    const url = 'https://example.test/cifar-10-binary.tar.gz';
    await expect(downloadCifar10(cache, { url, fetch: f, expectedSize: body.length, md5: '0'.repeat(32) })).rejects.toThrow(/MD5 [0-9a-f]{32} is not the published 0{32}: corrupt download/);
    await expect(downloadCifar10(cache, { url, fetch: f, expectedSize: body.length + 1 })).rejects.toThrow(/offers \d+ bytes, but .* should be \d+ bytes/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('fails offline with a message saying to pass --data_dir', async () => {
    const offline = (async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND www.cs.toronto.edu'), { code: 'ENOTFOUND' }) });
    }) as typeof fetch;
    const cache = join(root, 'cache-offline');
    const err = await loadCifar10(32, { cacheDir: cache, download: { fetch: offline } }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain('could not download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (fetch failed: ENOTFOUND)');
    expect(err.message).toContain('--data_dir');
    expect(err.message).toContain(join(cache, 'cifar-10-batches-bin'));
    expect(readdirSync(cache)).toEqual([]);
    // The real fetch, on a name that never resolves.
    const real = await downloadCifar10(cache, { url: 'https://cifar.invalid/cifar-10-binary.tar.gz', stallMs: 10_000 }).catch((e) => e);
    expect(real).toBeInstanceOf(DatasetError);
    expect(real.message).toMatch(/cifar\.invalid.*--data_dir/s);
  });
});
