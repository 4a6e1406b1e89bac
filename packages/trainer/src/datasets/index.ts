// The dataset registry: --dataset NAME -> a loader that decodes the images once at the training size.
import { DatasetError, type ImageDataset, type LoadProgress } from './dataset.js';
import { FASHION_MNIST_DIR, loadFashionMnist } from './fashion-mnist.js';

export interface DatasetRequest {
  name: string;
  size: number;
  /** Directory of the data (required for folder; optional override for the others). */
  dataDir?: string;
  onProgress?: LoadProgress;
}

type Loader = (r: DatasetRequest) => Promise<ImageDataset>;

export const DATASETS: Record<string, { help: string; load: Loader }> = {
  'fashion-mnist': {
    help: `Fashion-MNIST IDX files (default ${FASHION_MNIST_DIR}, Debian package dataset-fashion-mnist)`,
    load: (r) => loadFashionMnist(r.size, r.dataDir ?? FASHION_MNIST_DIR, r.onProgress),
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
