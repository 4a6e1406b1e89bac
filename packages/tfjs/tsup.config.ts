import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // Optional native backends: absent on most machines, loaded at run time when present.
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
});
