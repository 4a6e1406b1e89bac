import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // Dataset decoding workers locate their module file with import.meta.url, in the CommonJS build too.
  shims: true,
  target: 'node20',
  // Optional native backends: absent on most machines, loaded at run time when present.
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
});
