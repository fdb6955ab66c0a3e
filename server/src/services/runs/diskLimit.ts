/**
 * A run's disk limit (limits.disk_bytes or RUN_DISK_BYTES): its work and artifact directories measured
 * every few seconds while it runs, and once more when it ends; over the limit it is stopped and fails
 * `disk_limit`, its log and record saying why.
 */
import { DiskWatch } from '../diskUsage';
import type { ActiveRun } from './activeRun';

/** Starts measuring (null when the run has no disk limit); `stop` stops the run once it is over. */
export function watchDisk(active: ActiveRun, o: { dirs: string[]; intervalMs: number; stop: () => void; onError: (e: unknown) => void }): DiskWatch | null {
  const limitBytes = active.limits.disk_bytes ?? null;
  if (!limitBytes) return null;
  return new DiskWatch({
    dirs: o.dirs,
    limitBytes,
    intervalMs: o.intervalMs,
    onOver: (bytes) => {
      overDisk(active, { bytes, limitBytes, when: 'while it ran' });
      o.stop();
    },
    onError: o.onError,
  }).start();
}

/** Measured at its end too: files written faster than the measurements came do not slip through. */
export async function checkDiskAtEnd(active: ActiveRun): Promise<void> {
  const { watch } = active;
  const limit = active.limits.disk_bytes;
  if (watch && limit && !active.stop && (await watch.over())) overDisk(active, { bytes: watch.used, limitBytes: limit, when: 'when it ended' });
}

/** Fails the run `disk_limit`: its directories took `bytes` at `when` ('while it ran' stops it). */
function overDisk(active: ActiveRun, { bytes, limitBytes, when }: { bytes: number; limitBytes: number; when: 'while it ran' | 'when it ended' }): void {
  active.overDisk = `its work and artifact directories took ${bytes} bytes ${when}, over its disk limit of ${limitBytes} bytes (limits.disk_bytes or RUN_DISK_BYTES)${when === 'while it ran' ? ', so it was stopped' : ''}`;
  active.stop ??= { reason: 'disk_limit', by: null };
  active.writer?.write(Buffer.from(`oss-runner: ${active.overDisk}\n`));
}
