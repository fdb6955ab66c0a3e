/**
 * A worker's share of retention. API nodes delete the records of old runs (RETENTION_DAYS,
 * RETENTION_KEEP_PER_TOOL), their S3 copies and their own copies of logs; a worker then deletes what it
 * keeps of each run the fleet no longer has: its log, working directory and artifacts. Without this a
 * worker's disk only ever fills.
 *
 * The worker follows the records rather than judging runs itself: the rules need every run of a tool
 * across the fleet (the newest N), which only the database has, and so a run's files never go while
 * anyone can still list the run, nor stay once nobody can.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { Periodic } from '../lib/periodic';

export interface WorkerFilesDeps {
  pool: pg.Pool;
  logDir: string;
  /** Runs whose files are in use here (going, being uploaded or sent to Redis): left for a later sweep. */
  inUse: (runId: string) => boolean;
  /** Deletes what this worker keeps of a run. */
  remove: (runId: string) => Promise<void>;
  onError: (message: string, e: unknown) => void;
}

/** Run ids looked up in the database at a time. */
const BATCH = 500;

/** A run's files: `runs/<id>.log` (and its `.times`), `work/<id>/`, `artifacts/<id>/`. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class WorkerFiles {
  private readonly sweeper: Periodic<number>;

  constructor(
    private readonly deps: WorkerFilesDeps,
    options: { intervalMs: number },
  ) {
    this.sweeper = new Periodic(() => this.sweepOnce(), {
      intervalMs: options.intervalMs,
      onError: (e) => deps.onError("deleting the files of runs the fleet no longer has failed (the database did not answer?); trying again at the next sweep", e),
    });
  }

  /** Sweeps now and then every interval, until stop(). */
  start(): void {
    this.sweeper.start();
  }

  stop(): Promise<void> {
    return this.sweeper.stop();
  }

  /** Deletes the files of runs whose records are gone; answers how many runs' files went. One sweep at a time. */
  sweep(): Promise<number> {
    return this.sweeper.run();
  }

  private async sweepOnce(): Promise<number> {
    const ids = [...(await this.runsOnDisk())].filter((id) => !this.deps.inUse(id));
    let removed = 0;
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const { rows } = await this.deps.pool.query<{ run_id: string }>('SELECT run_id FROM runs WHERE run_id = ANY($1::text[])', [batch]);
      const known = new Set(rows.map((r) => r.run_id));
      for (const id of batch.filter((id) => !known.has(id))) {
        await this.deps.remove(id).then(
          () => removed++,
          (e: unknown) => this.deps.onError(`deleting the files of run ${id} failed`, e),
        );
      }
    }
    return removed;
  }

  /** The ids of the runs this worker keeps files of. */
  private async runsOnDisk(): Promise<Set<string>> {
    const ids = new Set<string>();
    const list = (dir: string) => readdir(path.join(this.deps.logDir, dir)).catch(() => [] as string[]);
    for (const name of await list('runs')) {
      const id = /^(.+)\.log(\.times)?$/.exec(name)?.[1];
      if (id && RUN_ID.test(id)) ids.add(id);
    }
    for (const dir of ['work', 'artifacts']) for (const name of await list(dir)) if (RUN_ID.test(name)) ids.add(name);
    return ids;
  }
}
