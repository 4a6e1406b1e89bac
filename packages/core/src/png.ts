// A dependency-free PNG encoder (RGBA8) for sample grids, loss curves and single images, in Node and browsers.
// Core must not import node:zlib, so compression comes from outside: `encodePng` takes a zlib compressor (Node code
// passes node:zlib's deflateSync) and `encodePngCompressed` uses CompressionStream('deflate'), which Node 18+ and
// current browsers have. Without either, the image data goes into stored (uncompressed) deflate blocks: a valid PNG,
// about twice the size.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + bytes[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib stream of stored (uncompressed) deflate blocks. */
function zlibStored(raw: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, raw.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff;
    out[o++] = len >>> 8;
    out[o++] = ~len & 0xff;
    out[o++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  const ad = adler32(raw);
  out[o++] = ad >>> 24;
  out[o++] = (ad >>> 16) & 0xff;
  out[o++] = (ad >>> 8) & 0xff;
  out[o++] = ad & 0xff;
  return out;
}

/**
 * Compresses bytes into a zlib stream (RFC 1950, what a PNG's IDAT holds), e.g.
 * `(raw) => zlib.deflateSync(raw, { level: 9 })` from node:zlib.
 */
export type ZlibCompress = (raw: Uint8Array) => Uint8Array;

/** PNG's limit on either side. */
const MAX_SIDE = 2 ** 31 - 1;

/** The scanlines PNG compresses: each row of RGBA bytes after a filter-type byte (0, none). */
function scanlines(width: number, height: number, rgba: Uint8Array | Uint8ClampedArray): Uint8Array {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw new RangeError(`encodePng: ${name} must be an integer from 1 to ${MAX_SIDE}, got ${v}`);
  }
  // Checked before allocating: the rows are the caller's bytes plus one byte per row.
  if (rgba.length !== width * height * 4) throw new RangeError(`encodePng: expected ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  // Filter 'none' on every row: measured on sample grids and loss curves, PNG's other filters gave larger files.
  const raw = new Uint8Array(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  return raw;
}

function assemble(width: number, height: number, idat: Uint8Array): Uint8Array {
  const chunks: [string, Uint8Array][] = [
    ['IHDR', Uint8Array.of(width >>> 24, (width >>> 16) & 255, (width >>> 8) & 255, width & 255, height >>> 24, (height >>> 16) & 255, (height >>> 8) & 255, height & 255, 8, 6, 0, 0, 0)],
    ['IDAT', idat],
    ['IEND', new Uint8Array(0)],
  ];
  const size = 8 + chunks.reduce((n, [, d]) => n + 12 + d.length, 0);
  const png = new Uint8Array(size);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let o = 8;
  for (const [type, data] of chunks) {
    const len = data.length;
    png.set([len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255], o);
    for (let i = 0; i < 4; i++) png[o + 4 + i] = type.charCodeAt(i);
    png.set(data, o + 8);
    const crc = crc32(png, o + 4, o + 8 + len);
    png.set([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255], o + 8 + len);
    o += 12 + len;
  }
  return png;
}

/**
 * A PNG of RGBA pixels, synchronously. With `compress` (node:zlib's deflateSync in Node) the file is compressed;
 * without it the pixels are stored uncompressed. Where neither waiting nor node:zlib is a problem, use
 * `encodePngCompressed`.
 */
export function encodePng(width: number, height: number, rgba: Uint8Array | Uint8ClampedArray, compress?: ZlibCompress): Uint8Array {
  const raw = scanlines(width, height, rgba);
  return assemble(width, height, compress ? compress(raw) : zlibStored(raw));
}

type CompressionStreamCtor = new (format: 'deflate') => { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

/**
 * A compressed PNG of RGBA pixels, using CompressionStream('deflate') (zlib's default level; Node 18+ and current
 * browsers). Where the platform has no CompressionStream, the pixels are stored uncompressed.
 */
export async function encodePngCompressed(width: number, height: number, rgba: Uint8Array | Uint8ClampedArray): Promise<Uint8Array> {
  const raw = scanlines(width, height, rgba);
  const Compression = (globalThis as { CompressionStream?: CompressionStreamCtor }).CompressionStream;
  if (!Compression) return assemble(width, height, zlibStored(raw));
  const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new Compression('deflate'));
  return assemble(width, height, new Uint8Array(await new Response(stream).arrayBuffer()));
}
