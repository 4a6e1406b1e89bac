// Atomic file replacement in Node, for checkpoints and every other file the trainer and exporter write: core's
// writeFileAtomicWith bound to node:fs/promises, plus the directory fsync a checkpoint commit needs.
import * as fs from 'node:fs/promises';
import { writeFileAtomicWith } from '@liquidflow/core';

/** Flushes a directory's entries (the renames into it) to disk, so a power loss cannot undo a commit. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Temp file in the same folder, fsync, rename; the temp file is removed when any step fails. */
export function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  return writeFileAtomicWith(fs, path, data);
}
