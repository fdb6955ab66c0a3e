/** Start-up checks of what this machine allows: a probe command run once, and system programs found where a tool cannot have put them. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';

/** Runs a probe command; null when it exits 0, else what went wrong. */
export function probe(file: string, args: string[]): string | null {
  const result = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  if (result.status === 0) return null;
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') return `${file} is not installed`;
  return result.stderr.trim() || result.error?.message || `exit ${result.status}`;
}

/** A program from the system's own directories: never one found on a PATH that a tool could have written to. */
export function systemProgram(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    try {
      accessSync(path.join(dir, name), fsConstants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}
