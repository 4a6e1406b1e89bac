// A folder of PNG/JPEG images (searched recursively), each center-cropped to a square and resized to the training
// size. Decoding runs once, up front, in a pool of worker threads for big folders (jpeg-js is pure JS and slow:
// ~50 ms for a 500x600 photo), with the progress reported as it goes. A file that does not decode is skipped with a
// warning naming it; a folder where nothing decodes is an error.
import { constants as bufferConstants } from 'node:buffer';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { extname, join, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PNG } from 'pngjs';
import { centerCropResize, checkDecodedSize, DatasetError, type ImageDataset, type LoadProgress } from './dataset.js';
import { decodeImage, decodeImageWith } from './image-decode.js';
import { thisModuleFile } from './module-file.js';

/** Extensions decoded (case-insensitive); the content's signature decides PNG or JPEG. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.jpe', '.jfif']);
/** Image formats that are not decoded: counted and reported once, not one warning each. */
const UNSUPPORTED_IMAGE_EXTENSIONS = new Set(['.gif', '.webp', '.bmp', '.tif', '.tiff', '.heic', '.heif', '.avif', '.svg', '.ico']);
/** Folders with fewer images are decoded on the main thread: starting workers would cost more than it saves. */
const MIN_FILES_FOR_WORKERS = 64;

export type WarningSink = (message: string) => void;

export interface FolderOptions {
  /** The dataset's name (default 'folder'). */
  name?: string;
  /** Search subfolders too (default true). */
  recursive?: boolean;
  onProgress?: LoadProgress;
  /** Each skipped file, as it is skipped (default console.warn). All of them are also in the result's warnings. */
  onWarning?: WarningSink;
  /** Decode threads; 0 decodes on the main thread. Default: min(8, cores) for 64 images or more, else 0. */
  workers?: number;
}

export interface FolderDataset extends ImageDataset {
  /** The images kept, in dataset order, relative to source. */
  files: string[];
  /** One line per skipped file (and one per kind of ignored image file). */
  warnings: string[];
  /** How many decode worker threads ran (0: the main thread decoded). */
  workers: number;
}

export interface ImageFileList {
  /** Absolute paths, sorted (by path within each folder, folders depth-first), so the order is the same everywhere. */
  files: string[];
  /** Ignored files of image formats that are not decoded, by extension. */
  unsupported: Map<string, number>;
}

/** The PNG/JPEG files of a folder (hidden files and folders skipped; symbolic links followed, once each). */
export async function listImageFiles(dir: string, recursive = true, warn: WarningSink = () => {}): Promise<ImageFileList> {
  const root = resolve(dir);
  const files: string[] = [];
  const unsupported = new Map<string, number>();
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (e) {
    throw new DatasetError(`${root}: no such folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!rootStat.isDirectory()) throw new DatasetError(`${root}: not a folder`);
  const seen = new Set<string>([await realpath(root)]);
  const walk = async (abs: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      if (abs === root) throw new DatasetError(`${root}: cannot read the folder (${(e as Error).message})`);
      warn(`${abs}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); skipped`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(abs, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const st = await stat(p);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          warn(`${p}: broken symbolic link; skipped`);
          continue;
        }
      }
      if (isDir) {
        if (!recursive) continue;
        const real = await realpath(p);
        if (seen.has(real)) continue;
        seen.add(real);
        await walk(p);
      } else if (isFile) {
        const ext = extname(e.name).toLowerCase();
        if (IMAGE_EXTENSIONS.has(ext)) files.push(p);
        else if (UNSUPPORTED_IMAGE_EXTENSIONS.has(ext)) unsupported.set(ext, (unsupported.get(ext) ?? 0) + 1);
      }
    }
  };
  await walk(root);
  return { files, unsupported };
}

/** Decodes one file and resizes it to size: the bytes, or why not. */
function decodeAndResize(bytes: Uint8Array, size: number): Uint8Array {
  const img = decodeImage(bytes);
  return centerCropResize(img.rgb, img.height, img.width, size);
}

// ---- the decode workers -------------------------------------------------------------------------------------------


let workerSourceCache: string | undefined;

/** The worker's code: the decoder and the resize of this module, by their source text, with pngjs and jpeg-js. */
function workerSource(): string {
  workerSourceCache ??= `"use strict";
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const libs = { PNG: require(workerData.pngjs).PNG, jpeg: require(workerData.jpegjs) };
const decodeImageWith = ${decodeImageWith.toString()};
const centerCropResize = ${centerCropResize.toString()};
try {
  const probe = decodeImageWith(workerData.probe, libs);
  const out = centerCropResize(probe.rgb, probe.height, probe.width, 1);
  parentPort.postMessage(out[0] === 255 && out[1] === 0 && out[2] === 0 ? { ready: true } : { ready: false, error: 'probe decoded wrong: ' + Array.from(out) });
} catch (e) {
  parentPort.postMessage({ ready: false, error: String((e && e.stack) || e) });
}
parentPort.on('message', (m) => {
  let bytes;
  try {
    bytes = readFileSync(m.file);
  } catch (e) {
    parentPort.postMessage({ error: 'cannot read the file (' + (e.code || e.message) + ')' });
    return;
  }
  try {
    const img = decodeImageWith(bytes, libs);
    const out = centerCropResize(img.rgb, img.height, img.width, m.size);
    parentPort.postMessage({ out }, [out.buffer]);
  } catch (e) {
    parentPort.postMessage({ error: String((e && e.message) || e) });
  }
});
`;
  return workerSourceCache;
}

/** A 2x2 red PNG that each worker decodes before it takes work: a worker that gets it wrong is not used. */
function probePng(): Uint8Array {
  const png = new PNG({ width: 2, height: 2 });
  for (let i = 0; i < 4; i++) png.data.set([255, 0, 0, 255], i * 4);
  return new Uint8Array(PNG.sync.write(png));
}

/** Starts a decode worker; undefined when it cannot start or fails its probe (the caller decodes on the main thread). */
function startWorker(): Promise<Worker | undefined> {
  return new Promise((done) => {
    let w: Worker;
    try {
      const req = createRequire(thisModuleFile());
      w = new Worker(workerSource(), {
        eval: true,
        workerData: { pngjs: req.resolve('pngjs'), jpegjs: req.resolve('jpeg-js'), probe: probePng() },
      });
    } catch {
      done(undefined);
      return;
    }
    const timer = setTimeout(() => finish(false), 60_000);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      w.removeAllListeners('message').removeAllListeners('error');
      if (ok) done(w);
      else void w.terminate().then(() => done(undefined), () => done(undefined));
    };
    w.once('message', (m: { ready: boolean }) => finish(m.ready === true));
    w.once('error', () => finish(false));
  });
}

/** One file through a worker: the resized pixels, or the decode error; rejects when the worker itself dies. */
function decodeInWorker(w: Worker, file: string, size: number): Promise<Uint8Array | string> {
  return new Promise((done, fail) => {
    const cleanup = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: { out?: Uint8Array; error?: string }) => {
      cleanup();
      done(m.out ?? m.error ?? 'no result');
    };
    const onError = (e: Error) => {
      cleanup();
      fail(e);
    };
    const onExit = (code: number) => {
      cleanup();
      fail(new Error(`decode worker exited with code ${code}`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage({ file, size });
  });
}

async function decodeOnMainThread(file: string, size: number): Promise<Uint8Array | string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    return `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  try {
    return decodeAndResize(bytes, size);
  } catch (e) {
    return (e as Error).message || String(e);
  }
}

// ---- the loader ---------------------------------------------------------------------------------------------------

/** Decodes the given image files at size: the dataset keeps those that decode, in the given order. */
export async function decodeImageFiles(
  files: string[],
  size: number,
  o: { name: string; source: string; onProgress?: LoadProgress; onWarning?: WarningSink; workers?: number },
): Promise<FolderDataset> {
  const warn = o.onWarning ?? ((m: string) => console.warn(m));
  const bytesPer = size * size * 3;
  checkDecodedSize(files.length, size, o.source);
  if (files.length * bytesPer > bufferConstants.MAX_LENGTH) {
    const gb = (files.length * bytesPer) / 2 ** 30;
    throw new DatasetError(`${o.source}: ${files.length} images at ${size}x${size} need ${gb.toFixed(1)} GiB, more than one array can hold; use a smaller --img_size or a subset of the images`);
  }
  const pixels = new Uint8Array(files.length * bytesPer);
  const ok = new Uint8Array(files.length);
  const warnings: string[] = [];
  const wanted = o.workers ?? (files.length >= MIN_FILES_FOR_WORKERS ? Math.min(8, availableParallelism()) : 0);
  const started = wanted > 0 ? (await Promise.all(Array.from({ length: Math.min(wanted, files.length) }, startWorker))).filter((w): w is Worker => !!w) : [];

  let next = 0;
  let done = 0;
  let lastReport = 0;
  const total = files.length;
  o.onProgress?.(0, total, 'images');
  const record = (i: number, r: Uint8Array | string) => {
    if (typeof r === 'string') {
      const m = `${files[i]}: skipped, ${r}`;
      warnings.push(m);
      warn(m);
    } else {
      pixels.set(r, i * bytesPer);
      ok[i] = 1;
    }
    done++;
    const now = Date.now();
    if (o.onProgress && (done === total || now - lastReport >= 200)) {
      lastReport = now;
      o.onProgress(done, total, 'images');
    }
  };
  const lane = async (worker: Worker | undefined) => {
    for (let i = next++; i < total; i = next++) {
      let r: Uint8Array | string;
      if (worker) {
        try {
          r = await decodeInWorker(worker, files[i], size);
        } catch {
          // The worker died on this file (out of memory, say): the file is tried here, the lane goes on without it.
          void worker.terminate().catch(() => {});
          worker = undefined;
          r = await decodeOnMainThread(files[i], size);
        }
      } else {
        r = await decodeOnMainThread(files[i], size);
      }
      record(i, r);
    }
    if (worker) await worker.terminate();
  };
  try {
    await Promise.all(started.length > 0 ? started.map((w) => lane(w)) : [lane(undefined)]);
  } finally {
    await Promise.all(started.map((w) => w.terminate().catch(() => 0)));
  }

  let count = 0;
  const kept: string[] = [];
  for (let i = 0; i < total; i++) {
    if (!ok[i]) continue;
    if (count !== i) pixels.copyWithin(count * bytesPer, i * bytesPer, (i + 1) * bytesPer);
    kept.push(relative(o.source, files[i]) || files[i]);
    count++;
  }
  if (count === 0) {
    throw new DatasetError(`${o.source}: none of the ${total} image files could be decoded (${warnings[0]}${total > 1 ? ', …' : ''})`);
  }
  return {
    name: o.name,
    source: o.source,
    size,
    count,
    pixels: count === total ? pixels : pixels.slice(0, count * bytesPer),
    files: kept,
    warnings,
    workers: started.length,
  };
}

/** Every PNG/JPEG under dir (recursively unless told), center-cropped and resized to size, RGB, alpha on white. */
export async function loadImageFolder(dir: string, size: number, opts: FolderOptions = {}): Promise<FolderDataset> {
  const source = resolve(dir);
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const listWarnings: string[] = [];
  const { files, unsupported } = await listImageFiles(source, opts.recursive ?? true, (m) => (listWarnings.push(m), warn(m)));
  const unsupportedNote = [...unsupported].map(([ext, n]) => `${n} ${ext}`).join(', ');
  if (unsupportedNote) {
    const m = `${source}: ignored ${unsupportedNote} file(s): only PNG and JPEG are decoded`;
    listWarnings.push(m);
    warn(m);
  }
  if (files.length === 0) {
    throw new DatasetError(`${source}: no PNG or JPEG images found${opts.recursive === false ? '' : ' (subfolders searched too)'}${unsupportedNote ? ` (ignored ${unsupportedNote})` : ''}`);
  }
  const ds = await decodeImageFiles(files, size, { name: opts.name ?? 'folder', source, onProgress: opts.onProgress, onWarning: warn, workers: opts.workers });
  ds.warnings.unshift(...listWarnings);
  return ds;
}
