// Oxford Flowers-102: 8189 JPEGs, jpg/image_00001.jpg … (from 102flowers.tgz). Loaded as an image folder, so each
// photo is center-cropped to a square and resized; --data_dir is the jpg folder or its parent.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetError, type LoadProgress } from './dataset.js';
import { type FolderDataset, loadImageFolder, type WarningSink } from './folder.js';

export const FLOWERS_IMAGE_COUNT = 8189;

/** The folder of the JPEGs: dir/jpg when there is one, else dir. */
export function flowersImageDir(dir: string): string {
  const jpg = join(resolve(dir), 'jpg');
  return existsSync(jpg) && statSync(jpg).isDirectory() ? jpg : resolve(dir);
}

export async function loadFlowers(
  size: number,
  dataDir: string | undefined,
  o: { onProgress?: LoadProgress; onWarning?: WarningSink; workers?: number } = {},
): Promise<FolderDataset> {
  if (!dataDir) {
    throw new DatasetError(`flowers: pass --data_dir with the Flowers-102 images (the 'jpg' folder extracted from 102flowers.tgz, or its parent)`);
  }
  return loadImageFolder(flowersImageDir(dataDir), size, { ...o, name: 'flowers' });
}
