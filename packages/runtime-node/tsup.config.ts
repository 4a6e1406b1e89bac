import { defineConfig } from 'tsup';

export default defineConfig({
  // worker.ts is a separate entry: it is started with new Worker(<path of the built worker file>).
  entry: ['src/index.ts', 'src/cli.ts', 'src/worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
});
