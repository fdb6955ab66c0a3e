/**
 * A run's own directories (its working directory, its artifact directory, its tool's cache), made
 * before it starts. Where tools run as an unprivileged user (RUN_AS_USER, a server run as root), that
 * user owns them and nothing else of LOG_DIR. A tool outside a sandbox reaches them by their real
 * paths: the directories above them, up to LOG_DIR, are then made searchable by the user's group
 * alone, so it can pass through them but never list them or write there.
 */
import { statSync } from 'node:fs';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ToolUser } from '../process/executor';

export interface RunDirs {
  logDir: string;
  workDir: string;
  artifactsDir: string;
  /** The tool's cache, kept between its runs, or null. */
  cacheDir: string | null;
}

/**
 * Makes a run's directories. With an `owner` (the user the tool runs as, when not the server's own)
 * hands them to it, leaving them the server's group: bubblewrap, root without capabilities by then,
 * must enter the working directory to start the tool there. `byRealPath`: the tool reaches them
 * without a sandbox's mounts.
 */
export async function makeRunDirs(dirs: RunDirs, owner: ToolUser | null, byRealPath: boolean): Promise<void> {
  // Each directory on its own at once: a start waits for the slowest, not for their sum.
  const [, , madeCache] = await Promise.all([
    mkdir(dirs.workDir, { recursive: true, mode: 0o750 }),
    mkdir(dirs.artifactsDir, { recursive: true, mode: 0o750 }),
    dirs.cacheDir === null ? undefined : mkdir(dirs.cacheDir, { recursive: true, mode: 0o750 }),
  ]);
  const newCache = madeCache !== undefined;
  if (!owner) return;
  const own = [dirs.workDir, dirs.artifactsDir, ...(dirs.cacheDir ? [dirs.cacheDir] : [])];
  await Promise.all(
    own.map(async (dir) => {
      if (dir === dirs.cacheDir && !newCache) return checkOwner(dir, owner);
      await chown(dir, owner.uid, process.getgid?.() ?? 0);
      await chmod(dir, 0o750); // whatever the server's umask (077) made of it
    }),
  );
  if (byRealPath) for (const dir of new Set(own.flatMap((d) => dirsUpTo(dirs.logDir, d)))) await searchableByGroup(dir, owner.gid);
}

/**
 * A cache made by another user (root, before tools ran as RUN_AS_USER) is not taken over here: what is
 * in it may link anywhere, and a cache is cheap to make again. The run fails, saying what to do.
 */
async function checkOwner(dir: string, owner: ToolUser): Promise<void> {
  const { uid } = await stat(dir);
  if (uid !== owner.uid) throw new Error(`the cache ${dir} belongs to uid ${uid}, not to the tools' user ${owner.uid}: hand it over (chown -R ${owner.uid}:${owner.gid} ${dir}) or delete it`);
}

/** `top` and the directories between it and `dir`, outermost first. */
function dirsUpTo(top: string, dir: string): string[] {
  const up: string[] = [];
  for (let d = path.dirname(dir); d === top || d.startsWith(`${top}/`); d = path.dirname(d)) up.unshift(d);
  return up;
}

/** Lets group `gid` pass through `dir` (reach a name it knows) but not list or change it; the owner and others keep what they had. */
async function searchableByGroup(dir: string, gid: number): Promise<void> {
  const { uid, gid: group, mode } = await stat(dir);
  if (group !== gid) await chown(dir, uid, gid);
  const wanted = (mode & 0o7707) | 0o010;
  if ((mode & 0o7777) !== wanted) await chmod(dir, wanted);
}

/**
 * The first directory above `dir` that `user` cannot pass through, or null: a tool run as that user
 * needs every one of them to reach its run's directories by their paths (LOG_DIR under /root cannot work).
 */
export function unreachableAbove(dir: string, user: ToolUser): string | null {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    const { uid, gid, mode } = statSync(d);
    const bit = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001;
    if (!(mode & bit)) return d;
    if (d === path.dirname(d)) return null;
  }
}
