// A new run writes config.json, weight files and loss.png into --out, and its first save deletes step-stamped files it
// did not write: pointed at a folder holding another run's checkpoint (or anything else), it would destroy it. So a
// new run only starts in a missing or empty folder unless --force says otherwise.
import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

export class RunDirError extends Error {
  override name = 'RunDirError';
}

/** Throws a RunDirError when the run would write into a folder it does not own. */
export async function checkRunDir(o: { out: string; resume?: string; force?: boolean }, explicit: ReadonlySet<string>): Promise<void> {
  // --resume continues in its own folder (where --out defaults to): overwriting that checkpoint is the point.
  if (o.resume && (!explicit.has('out') || resolve(o.out) === resolve(o.resume))) return;
  let entries: string[];
  try {
    if (!(await stat(o.out)).isDirectory()) throw new RunDirError(`--out ${o.out}: exists and is not a folder`);
    entries = await readdir(o.out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (entries.length === 0 || o.force) return;
  const shown = entries.sort().slice(0, 4).join(', ') + (entries.length > 4 ? `, and ${entries.length - 4} more` : '');
  throw new RunDirError(`--out ${o.out} is not empty (it holds ${shown}); a new run would overwrite it. ` +
    `To continue the run saved there use --resume ${o.out}; to start over in it anyway add --force`);
}
