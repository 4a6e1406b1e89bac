// PNG and JPEG to RGB bytes, with the pure-JS decoders pngjs and jpeg-js.
// PNG: grayscale, palette and 16-bit are expanded to 8-bit RGBA by pngjs; alpha is composited on white.
// JPEG: grayscale and CMYK are converted by jpeg-js; the EXIF orientation (phone photos) is applied.
import { PNG } from 'pngjs';
import * as jpegJs from 'jpeg-js';

export interface DecodedImage {
  width: number;
  height: number;
  /** [height, width, 3] RGB bytes. */
  rgb: Uint8Array;
}

/** The decoders, passed in so that decodeImageWith has no imports and runs unchanged inside a decode worker. */
export interface DecoderLibs {
  PNG: { sync: { read(buffer: Buffer): { width: number; height: number; data: Uint8Array } } };
  jpeg: { decode(data: Uint8Array, opts: { useTArray: true; formatAsRGBA: boolean; maxResolutionInMP: number; maxMemoryUsageInMB: number }): { width: number; height: number; data: Uint8Array } };
}

export const DECODER_LIBS: DecoderLibs = { PNG, jpeg: jpegJs };

/** What a file's first bytes say it is. */
export function sniffImage(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/**
 * Decodes a PNG or JPEG (by its signature, whatever the file is called) to RGB. Throws an Error saying what is wrong.
 *
 * Self-contained on purpose: no imports, no module-level references (the decoders come in `libs`), because its
 * source text is also evaluated in the decode workers of the folder loader.
 */
export function decodeImageWith(bytes: Uint8Array, libs: DecoderLibs): DecodedImage {
  // Bigger images are refused (and so skipped) rather than exhausting memory.
  const maxPixels = 100_000_000;
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng) {
    if (bytes.length < 24) throw new Error('truncated PNG header');
    const w = ((bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]) >>> 0;
    const h = ((bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]) >>> 0;
    if (w * h > maxPixels) throw new Error(`PNG of ${w}x${h} pixels is larger than ${maxPixels / 1e6} megapixels`);
    const img = libs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const n = img.width * img.height;
    const rgba = img.data;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const a = rgba[i * 4 + 3];
      if (a === 255) {
        rgb[i * 3] = rgba[i * 4];
        rgb[i * 3 + 1] = rgba[i * 4 + 1];
        rgb[i * 3 + 2] = rgba[i * 4 + 2];
      } else {
        // Composited on white: c * a + 255 * (1 - a).
        const bg = 255 * (255 - a) + 127;
        rgb[i * 3] = ((rgba[i * 4] * a + bg) / 255) | 0;
        rgb[i * 3 + 1] = ((rgba[i * 4 + 1] * a + bg) / 255) | 0;
        rgb[i * 3 + 2] = ((rgba[i * 4 + 2] * a + bg) / 255) | 0;
      }
    }
    return { width: img.width, height: img.height, rgb };
  }
  if (isJpeg) {
    const img = libs.jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: 2048 });
    if (!img.width || !img.height) throw new Error('JPEG has no image data');
    // EXIF orientation: APP1 "Exif\0\0", a TIFF header, IFD0 tag 0x0112.
    let orientation = 1;
    for (let p = 2; p + 4 <= bytes.length && bytes[p] === 0xff; ) {
      const marker = bytes[p + 1];
      if (marker === 0xda || marker === 0xd9) break;
      const len = (bytes[p + 2] << 8) | bytes[p + 3];
      const s = p + 4;
      if (marker === 0xe1 && len >= 16 && s + len - 2 <= bytes.length && bytes[s] === 0x45 && bytes[s + 1] === 0x78 && bytes[s + 2] === 0x69 && bytes[s + 3] === 0x66) {
        const t = s + 6;
        const le = bytes[t] === 0x49;
        const u16 = (o: number) => (le ? bytes[o] | (bytes[o + 1] << 8) : (bytes[o] << 8) | bytes[o + 1]);
        const u32 = (o: number) => (le ? (u16(o) | (u16(o + 2) << 16)) >>> 0 : ((u16(o) << 16) | u16(o + 2)) >>> 0);
        const ifd = t + u32(t + 4);
        const end = s + len - 2;
        if (ifd + 2 <= end) {
          const entries = u16(ifd);
          for (let e = 0; e < entries && ifd + 2 + e * 12 + 12 <= end; e++) {
            const q = ifd + 2 + e * 12;
            if (u16(q) === 0x0112) orientation = u16(q + 8);
          }
        }
        break;
      }
      p += 2 + len;
    }
    const { width: w, height: h } = img;
    const src = img.data;
    if (orientation < 2 || orientation > 8) return { width: w, height: h, rgb: src };
    const swap = orientation >= 5;
    const W = swap ? h : w;
    const H = swap ? w : h;
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let sx = x;
        let sy = y;
        if (orientation === 2) sx = w - 1 - x;
        else if (orientation === 3) (sx = w - 1 - x), (sy = h - 1 - y);
        else if (orientation === 4) sy = h - 1 - y;
        else if (orientation === 5) (sx = y), (sy = x);
        else if (orientation === 6) (sx = y), (sy = h - 1 - x);
        else if (orientation === 7) (sx = w - 1 - y), (sy = h - 1 - x);
        else (sx = w - 1 - y), (sy = x);
        const si = (sy * w + sx) * 3;
        const di = (y * W + x) * 3;
        rgb[di] = src[si];
        rgb[di + 1] = src[si + 1];
        rgb[di + 2] = src[si + 2];
      }
    }
    return { width: W, height: H, rgb };
  }
  throw new Error('neither a PNG nor a JPEG (unrecognized file signature)');
}

/** decodeImageWith with the bundled decoders. */
export function decodeImage(bytes: Uint8Array): DecodedImage {
  return decodeImageWith(bytes, DECODER_LIBS);
}
