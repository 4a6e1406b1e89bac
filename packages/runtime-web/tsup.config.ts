import { defineConfig } from 'tsup';

export default defineConfig({
  // The module workers are entries of their own: worker.ts (no bundler: ORT by URL) and bundler-worker.ts and
  // bundler-worker-wasm.ts (each imports one ORT build; the ones bundlers build, see worker-client.ts).
  entry: ['src/index.ts', 'src/worker.ts', 'src/bundler-worker.ts', 'src/bundler-worker-wasm.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  platform: 'browser',
  target: 'es2022',
  // onnxruntime-web (both builds) stays a bare import (import map or bundler); @liquidflow/core is bundled in, so a page without a
  // bundler needs only two import-map entries and the worker file has no bare imports besides ORT (loaded by URL).
  // core is a devDependency (package.json), so the .d.ts files inline its types as well: nothing published imports it.
  external: ['onnxruntime-web', 'onnxruntime-web/wasm'],
  noExternal: ['@liquidflow/core'],
});
