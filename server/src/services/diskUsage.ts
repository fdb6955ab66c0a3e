/**
 * A run's disk use: what its work and artifact directories take together, measured as du(1) does
 * (allocated blocks, each hard-linked file once, links never followed), and a watch that measures
 * it every few seconds and says when it goes over the run's limit.
 *
 * Measuring is chosen over the alternatives because it holds on any file system and in every
 * isolation mode, needs no privilege and leaves the files where they are once the run ends: a tmpfs
 * or loop mount per run needs root and memory or an image file each, and project quotas need an
 * XFS or ext4 LOG_DIR mounted with them. Its cost is bounded (a walk stops at MAX_ENTRIES); its
 * price is that a tool may overshoot by what it writes between two measurements (RLIMIT_FSIZE
 * still bounds each single file).
 */
import type { Dir } from 'node:fs';
import { chmod, lstat, opendir } from 'node:fs/promises';
import path from 'node:path';

/** Entries one measurement looks at, at most: a tool that makes more files is measured on these. */
const MAX_ENTRIES = 200_000;

/** Bytes the directories take on disk; missing directories take none. */
export async function diskUsage(dirs: readonly string[], maxEntries = MAX_ENTRIES): Promise<{ bytes: number; entries: number }> {
  const seen = new Set<string>();
  let bytes = 0;
  let entries = 0;
  const pending = [...dirs];
  for (let dir = pending.pop(); dir !== undefined && entries < maxEntries; dir = pending.pop()) {
    const handle = await openDir(dir);
    if (!handle) continue;
    for await (const entry of handle) {
      if (++entries > maxEntries) break;
      const file = path.join(dir, entry.name);
      const s = await lstat(file, { bigint: false }).catch(() => null);
      if (!s) continue;
      const key = `${s.dev}:${s.ino}`;
      if (s.nlink > 1 && seen.has(key)) continue;
      if (s.nlink > 1) seen.add(key);
      bytes += s.blocks * 512;
      if (s.isDirectory()) pending.push(file);
    }
  }
  return { bytes, entries };
}

/**
 * A directory to read, or null when it is gone (or no directory any more: it takes nothing now). One
 * its tool closed to its owner (chmod 000, to hide what it holds) is opened again to be measured: a
 * server that is not root runs its tools as itself, and so may.
 */
async function openDir(dir: string): Promise<Dir | null> {
  try {
    return await opendir(dir, { bufferSize: 256 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') return null;
  }
  try {
    await chmod(dir, 0o700);
    return await opendir(dir, { bufferSize: 256 });
  } catch {
    return null;
  }
}

/**
 * Measures `dirs` every `intervalMs` until stopped, calling `onOver` once with the bytes found when
 * they take more than `limitBytes`. Measurements never overlap.
 */
export class DiskWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The last measurement, in bytes. */
  used = 0;

  constructor(
    private readonly options: { dirs: readonly string[]; limitBytes: number; intervalMs: number; onOver: (bytes: number) => void; onError: (e: unknown) => void },
  ) {}

  start(): this {
    this.schedule();
    return this;
  }

  /** Measures once now (the run's end): whether the directories are over the limit. */
  async over(): Promise<boolean> {
    this.used = (await diskUsage(this.options.dirs)).bytes;
    return this.used > this.options.limitBytes;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.over().then(
        (over) => {
          if (over && !this.stopped) {
            this.stop();
            this.options.onOver(this.used);
          } else this.schedule();
        },
        (e: unknown) => {
          this.options.onError(e);
          this.schedule();
        },
      );
    }, this.options.intervalMs);
    this.timer.unref();
  }
}
