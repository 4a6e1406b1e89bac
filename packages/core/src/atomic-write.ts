// Files are replaced atomically: written to a temp file beside the target, fsynced, then renamed over it. A process
// killed at any moment, or a full disk, leaves either the old file or the new one, never a torn one, and a failed
// write removes its temp file. The one implementation for every package that writes outputs; the file operations are
// passed in (node:fs/promises satisfies AtomicWriteFs) because core also runs in browsers and must not import fs.

/** The file operations an atomic write needs; `import * as fs from 'node:fs/promises'` is one. */
export interface AtomicWriteFs {
  open(path: string, flags: string): Promise<{ writeFile(data: Uint8Array | string): Promise<void>; sync(): Promise<void>; close(): Promise<void> }>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

let tempCounter = 0;

/** `dir/.name.tmp-<pid>-<n>` for `dir/name`: the same folder (a rename across file systems is not atomic). */
export function atomicTempPath(path: string): string {
  // Either separator: on POSIX a backslash is part of the name, and the temp file still lands in the same folder.
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1;
  const pid = (globalThis as { process?: { pid?: number } }).process?.pid ?? 0;
  return `${path.slice(0, cut)}.${path.slice(cut)}.tmp-${pid}-${tempCounter++}`;
}

/** Errors like ENOSPC name no file, and open's name the temp file: say which output failed (class and code kept). */
function naming(e: unknown, path: string): unknown {
  if (e instanceof Error && !e.message.includes(path)) e.message = `cannot write ${path}: ${e.message}`;
  return e;
}

export async function writeFileAtomicWith(fs: AtomicWriteFs, path: string, data: Uint8Array | string): Promise<void> {
  const tmp = atomicTempPath(path);
  // 'wx': never write through something already at the temp name (a planted symbolic link). A failed open created
  // nothing of ours, so nothing is removed (on EEXIST the file there is someone else's).
  const fh = await fs.open(tmp, 'wx').catch((e) => {
    throw naming(e, path);
  });
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw naming(e, path);
  }
}
