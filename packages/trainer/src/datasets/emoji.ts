// Emoji from an installed emoji-datasource-<vendor> npm package: img/<vendor>/64/*.png, 64x64 with alpha (composited
// on white). Not a dependency (emoji-datasource-google is 74 MB): found via --data_dir (the package, its img folder,
// img/<vendor>, or a folder of PNGs) or resolved from the trainer or the current folder.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { thisModuleFile } from './module-file.js';
import { DatasetError, type LoadProgress } from './dataset.js';
import { type FolderDataset, loadImageFolder, type WarningSink } from './folder.js';

export const EMOJI_VENDORS = ['google', 'apple', 'twitter', 'facebook'];

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** The image-size folder of a vendor folder (img/google): 64 when there, else the largest numeric one. */
function sizeDir(vendorDir: string): string | undefined {
  if (!isDir(vendorDir)) return undefined;
  const sizes = readdirSync(vendorDir)
    .filter((n) => /^\d+$/.test(n) && isDir(join(vendorDir, n)))
    .map(Number);
  if (sizes.length === 0) return undefined;
  return join(vendorDir, String(sizes.includes(64) ? 64 : Math.max(...sizes)));
}

function byVendorPreference(names: string[]): string[] {
  const rank = (n: string) => (EMOJI_VENDORS.includes(n) ? EMOJI_VENDORS.indexOf(n) : EMOJI_VENDORS.length);
  return [...names].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The PNG folder for a path that is a package root, its img folder, img/<vendor>, or the PNG folder itself. */
export function findEmojiPngDir(path: string): string {
  const p = resolve(path);
  if (!isDir(p)) throw new DatasetError(`${p}: no such folder (pass an emoji-datasource-* package folder or its img/<vendor>/64 folder)`);
  const img = join(p, 'img');
  const vendorsIn = (d: string) => byVendorPreference(readdirSync(d).filter((n) => isDir(join(d, n))));
  if (isDir(img)) {
    for (const v of vendorsIn(img)) {
      const s = sizeDir(join(img, v));
      if (s) return s;
    }
    throw new DatasetError(`${img}: no <vendor>/<size> folder of PNGs (expected e.g. img/google/64)`);
  }
  const own = sizeDir(p);
  if (own) return own;
  for (const v of vendorsIn(p).filter((n) => EMOJI_VENDORS.includes(n))) {
    const s = sizeDir(join(p, v));
    if (s) return s;
  }
  return p;
}


/** The folder of the first installed emoji-datasource-{google,apple,twitter,facebook}, searched from each base file. */
export function resolveEmojiPackage(searchFrom: string[] = [thisModuleFile(), join(process.cwd(), 'package.json')]): string | undefined {
  for (const v of EMOJI_VENDORS) {
    for (const base of searchFrom) {
      const req = createRequire(base);
      for (const spec of [`emoji-datasource-${v}/package.json`, `emoji-datasource-${v}`]) {
        try {
          return dirname(req.resolve(spec));
        } catch {
          // Not installed there.
        }
      }
    }
  }
  return undefined;
}

export async function loadEmoji(
  size: number,
  dataDir: string | undefined,
  o: { onProgress?: LoadProgress; onWarning?: WarningSink; workers?: number; searchFrom?: string[] } = {},
): Promise<FolderDataset> {
  const { searchFrom, ...rest } = o;
  const root = dataDir ?? resolveEmojiPackage(searchFrom);
  if (!root) {
    throw new DatasetError(`emoji: no emoji-datasource-{${EMOJI_VENDORS.join(',')}} package is installed: run 'npm i emoji-datasource-google' (74 MB, not a dependency) or pass --data_dir with its img/google/64 folder`);
  }
  return loadImageFolder(findEmojiPngDir(root), size, { ...rest, name: 'emoji', recursive: false });
}
