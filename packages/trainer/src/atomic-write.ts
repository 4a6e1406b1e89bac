// Checkpoint directories are replaced atomically: everything is written into a temp directory beside the target, then
// swapped in with renames. A run killed at any moment leaves either the old checkpoint or the new one (if it dies
// between the two renames, the old one is still whole at <dir>.prev, which loadCheckpoint falls back to).
import { mkdir, rename, rm, stat, writeFile, open } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export const PREVIOUS_SUFFIX = '.prev';
let tempCounter = 0;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes files (name -> bytes or text) as the directory `dir`, replacing any previous one atomically. */
export async function writeDirAtomic(dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}-${Date.now()}-${tempCounter++}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) {
      const path = join(tmp, name);
      await writeFile(path, data);
      await fsyncFile(path);
    }
    const prev = dir + PREVIOUS_SUFFIX;
    // If an earlier save died between its renames, .prev is the only whole copy: put it back before replacing it.
    if (!(await exists(dir)) && (await exists(prev))) await rename(prev, dir);
    await rm(prev, { recursive: true, force: true });
    try {
      await rename(dir, prev);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await rename(tmp, dir);
    await rm(prev, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
