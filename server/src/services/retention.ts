/**
 * Retention: on a schedule, finished runs older than RETENTION_DAYS, or beyond the newest
 * RETENTION_KEEP_PER_TOOL of their tool, are deleted with their logs, working directories,
 * artifacts and S3 copies; then the database gives the space back. Queued and running runs are
 * never touched (the store's query and its delete both leave them out).
 */
import { Periodic } from '../lib/periodic';
import type { RunStore } from '../store/runStore';
import type { RunService } from './runs';

export interface RetentionOptions {
  maxAgeDays: number;
  keepPerTool: number;
  intervalMs: number;
}

/** What retention works on, and where its failures are told. */
export interface RetentionDeps {
  store: RunStore;
  runs: RunService;
  onError: (message: string, e: unknown) => void;
}

/** Runs deleted per batch: each batch is one transaction, so the server stays responsive meanwhile. */
const BATCH = 500;

export class Retention {
  private readonly sweeper: Periodic<number>;

  private readonly store: RunStore;
  private readonly runs: RunService;
  private readonly onError: (message: string, e: unknown) => void;

  constructor(
    { store, runs, onError }: RetentionDeps,
    private readonly options: RetentionOptions,
  ) {
    this.store = store;
    this.runs = runs;
    this.onError = onError;
    this.sweeper = new Periodic(() => this.sweepOnce(), { intervalMs: options.intervalMs, onError: (e) => onError('retention failed', e) });
  }

  get enabled(): boolean {
    return this.options.maxAgeDays > 0 || this.options.keepPerTool > 0;
  }

  /** Sweeps now and then every interval, until stop(). */
  start(): void {
    if (this.enabled) this.sweeper.start();
  }

  stop(): Promise<void> {
    return this.sweeper.stop();
  }

  /** Deletes what the rules say may go; answers how many runs were deleted. One sweep at a time. */
  sweep(): Promise<number> {
    return this.sweeper.run();
  }

  private async sweepOnce(): Promise<number> {
    const { maxAgeDays, keepPerTool } = this.options;
    const finishedBefore = maxAgeDays > 0 ? new Date(Date.now() - maxAgeDays * 86_400_000).toISOString() : null;
    let deleted = 0;
    for (;;) {
      // A run still being uploaded waits for the next sweep: deleting under the upload would leave its S3 copy behind.
      const ids = (await this.store.expired({ finishedBefore, keepPerTool, limit: BATCH })).filter((id) => !this.runs.uploading.has(id));
      if (!ids.length) break;
      // Records first: once a run is gone from the list nobody starts reading the files being deleted.
      await this.store.remove(ids);
      for (const id of ids) await this.runs.removeFiles(id).catch((e: unknown) => this.onError(`deleting the files of run ${id} failed`, e));
      deleted += ids.length;
      if (ids.length < BATCH) break;
    }
    if (deleted) await this.store.compact();
    return deleted;
  }
}
