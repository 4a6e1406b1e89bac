import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the CLIs they spawn run the built dist (npm test builds first).
    alias: {
      '@liquidflow/core': src('core'),
      '@liquidflow/checkpoint': src('checkpoint'),
      '@liquidflow/tfjs': src('tfjs'),
      '@liquidflow/trainer': src('trainer'),
      '@liquidflow/exporter': src('exporter'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    // TF.js wasm and onnxruntime-node hold process-wide state; one fork per file keeps them apart.
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'out/junit.xml' },
  },
});
