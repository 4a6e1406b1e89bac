// The dataset registry: --dataset NAME -> a loader that decodes the images once at the training size.
import { DatasetError, type ImageDataset, type LoadProgress } from './dataset.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from './fashion-mnist.js';
import { CIFAR10_FOLDER, liquidflowCacheDir, loadCifar10 } from './cifar10.js';
import { loadImageFolder } from './folder.js';
import { loadFlowers } from './flowers.js';
import { loadEmoji } from './emoji.js';

export interface DatasetRequest {
  name: string;
  size: number;
  /** Directory of the data (required for folder; optional override for the others). */
  dataDir?: string;
  onProgress?: LoadProgress;
  /** A file skipped (undecodable image) or a batch missing; default console.warn. */
  onWarning?: (message: string) => void;
}

type Loader = (r: DatasetRequest) => Promise<ImageDataset>;

export const DATASETS: Record<string, { help: string; load: Loader }> = {
  'fashion-mnist': {
    help: `Fashion-MNIST IDX files (default ${FASHION_MNIST_DIR}, Debian package dataset-fashion-mnist)`,
    load: (r) => loadFashionMnist(r.size, r.dataDir ?? FASHION_MNIST_DIR, r.onProgress),
  },
  cifar10: {
    help: `CIFAR-10 binary batches data_batch_1..5.bin (--data_dir: ${CIFAR10_FOLDER} or its parent; default the cache ${liquidflowCacheDir()}, downloaded there when missing)`,
    load: (r) => loadCifar10(r.size, { dataDir: r.dataDir, onProgress: r.onProgress, onWarning: r.onWarning }),
  },
  folder: {
    help: 'every PNG/JPEG under --data_dir (recursive), center-cropped and resized; undecodable files skipped with a warning',
    load: async (r) => {
      if (!r.dataDir) throw new DatasetError('folder: pass --data_dir with the folder of PNG/JPEG images');
      return loadImageFolder(r.dataDir, r.size, { onProgress: r.onProgress, onWarning: r.onWarning });
    },
  },
  flowers: {
    help: "Oxford Flowers-102 JPEGs (--data_dir: its 'jpg' folder or the parent)",
    load: (r) => loadFlowers(r.size, r.dataDir, { onProgress: r.onProgress, onWarning: r.onWarning }),
  },
  emoji: {
    help: 'PNGs of an installed emoji-datasource-google (or -apple, -twitter, -facebook) package, alpha on white (--data_dir: the package or its img/<vendor>/64)',
    load: (r) => loadEmoji(r.size, r.dataDir, { onProgress: r.onProgress, onWarning: r.onWarning }),
  },
};

export async function loadDataset(r: DatasetRequest): Promise<ImageDataset> {
  const entry = Object.hasOwn(DATASETS, r.name) ? DATASETS[r.name] : undefined;
  if (!entry) throw new DatasetError(`unknown dataset '${r.name}': expected one of ${Object.keys(DATASETS).join(', ')}`);
  const ds = await entry.load(r);
  if (ds.count === 0) throw new DatasetError(`${ds.source}: no images found`);
  return ds;
}

export * from './dataset.js';
export * from './fashion-mnist.js';
export * from './image-decode.js';
export * from './folder.js';
export * from './tar.js';
export * from './cifar10.js';
export * from './flowers.js';
export * from './emoji.js';
