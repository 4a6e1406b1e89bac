// A small reader of (gzipped) tar archives: 512-byte ustar headers, each followed by the file's data padded to 512
// bytes, ended by zero blocks. Handles GNU long names ('L') and pax 'path' records ('x'); other entry kinds are listed
// with their type and no special handling. Enough for dataset archives such as cifar-10-binary.tar.gz.
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DatasetError } from './dataset.js';

const gunzipAsync = promisify(gunzip);

export interface TarEntry {
  /** The path in the archive ('./' prefix removed). */
  name: string;
  /** '0' regular file, '5' folder, '2' symbolic link, … (the ustar typeflag; '\0' is reported as '0'). */
  type: string;
  size: number;
  /** The file's bytes (a view into the archive). */
  data: Uint8Array;
}

const BLOCK = 512;

function text(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

/** An octal number field (NUL/space terminated), or GNU base-256 when the high bit of the first byte is set. */
function number(b: Uint8Array, start: number, len: number): number {
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i];
    return v;
  }
  const s = text(b, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** The entries of an uncompressed tar archive; `where` names it in errors. */
export function readTar(bytes: Uint8Array, where: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let off = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (off + BLOCK <= bytes.length) {
    const h = bytes.subarray(off, off + BLOCK);
    if (h.every((v) => v === 0)) return entries; // End of archive (the second zero block is optional here).
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    const stored = number(h, 148, 8);
    if (Number.isNaN(stored) || stored !== sum) {
      throw new DatasetError(`${where}: not a tar archive, or corrupt (bad header checksum at byte ${off})`);
    }
    const flag = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
    const size = number(h, 124, 12);
    if (!Number.isFinite(size) || size < 0) throw new DatasetError(`${where}: bad size field in the header at byte ${off}`);
    const dataStart = off + BLOCK;
    if (dataStart + size > bytes.length) {
      throw new DatasetError(`${where}: truncated: entry '${text(h, 0, 100)}' needs ${size} bytes at byte ${dataStart}, the archive has ${bytes.length}`);
    }
    const data = bytes.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      // Records "LEN key=value\n"; only path matters here.
      const recs = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
      for (const m of recs.matchAll(/\d+ path=([^\n]*)\n/g)) paxPath = m[1];
      continue;
    }
    if (flag === 'g') continue;
    const magic = text(h, 257, 6);
    const prefix = magic.startsWith('ustar') ? text(h, 345, 155) : '';
    let name = paxPath ?? longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    paxPath = longName = undefined;
    while (name.startsWith('./')) name = name.slice(2);
    entries.push({ name, type: flag, size, data });
  }
  if (off < bytes.length || bytes.length === 0) {
    throw new DatasetError(`${where}: truncated tar archive (${bytes.length} bytes, ends inside a header)`);
  }
  // Ran to the end without the zero blocks: accepted (some writers omit them), all entries were whole.
  return entries;
}

/** Gunzips (when gzipped) and reads a tar archive file. */
export async function readTarFile(file: string): Promise<TarEntry[]> {
  let bytes: Uint8Array = new Uint8Array(await readFile(file));
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = new Uint8Array(await gunzipAsync(bytes));
    } catch (e) {
      throw new DatasetError(`${file}: not a valid gzip file (${(e as Error).message})`);
    }
  }
  return readTar(bytes, file);
}
