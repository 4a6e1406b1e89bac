import { defineConfig } from 'tsup';

export default defineConfig({
  // batch-prefetch-worker.ts is a separate entry: it is started with new Worker(<path of the built worker file>).
  entry: ['src/index.ts', 'src/cli.ts', 'src/eval-cli.ts', 'src/batch-prefetch-worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: ['src/index.ts', 'src/cli.ts', 'src/eval-cli.ts'] },
  sourcemap: true,
  clean: true,
  // Dataset decoding workers locate their module file with import.meta.url, in the CommonJS build too; the batch
  // prefetcher finds its worker beside __filename, in the ESM build too.
  shims: true,
  target: 'node20',
});
