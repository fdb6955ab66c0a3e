/**
 * Opening a file a tool may have tampered with: a run's files are its tool's to change, even after the
 * run (a leftover process in process-group isolation), so a file is opened without following links and
 * used only when what was opened is a regular file at the very path expected (no directory on the way
 * swapped for a link).
 */
import { constants } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';

/**
 * Opens `file` (a real path) for reading if it is a regular file reached through no link; 'missing'
 * when there is nothing there, 'replaced' when something else is (a link, a directory, a device).
 */
export async function openPlainFile(file: string): Promise<{ handle: FileHandle; size: number } | 'missing' | 'replaced'> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ELOOP' || code === 'ENOTDIR') return 'replaced';
    throw e;
  }
  const stat = await handle.stat();
  // The kernel's own name for what was opened: a directory on the way swapped for a link shows here.
  if (stat.isFile() && (await readlink(`/proc/self/fd/${handle.fd}`)) === file) return { handle, size: stat.size };
  await handle.close();
  return 'replaced';
}

