// The path of this code, to resolve packages from (pngjs for the decode workers, an emoji-datasource-* package):
// __filename in the CommonJS build (and under vitest), import.meta.url in the ESM build. (tsup warns that import.meta
// is empty in the CommonJS build: that branch is not taken there.)
import { fileURLToPath } from 'node:url';

export function thisModuleFile(): string {
  return typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
}
