/**
 * The run store: where every run is recorded. The interface is asynchronous so that engines other
 * than the embedded SQLite can stand behind it unchanged.
 */
import type { RunCounts } from '../../../shared/src/schemas/health';
import { RunStatus, type Run, type RunList } from '../../../shared/src/schemas/run';

/** What lets a later process find a run's process again after a crash: a PID and its start time. */
export interface ProcessHandle {
  isolation: 'pid-namespace' | 'process-group';
  pid: number;
  /** Field 22 of /proc/PID/stat, so a reused PID is never mistaken for the run's. */
  startTicks: string;
}

/** Run counts from `status, COUNT(*)` rows, every status present (0 when absent). */
export function countsOf(rows: { status: string; n: number }[]): RunCounts {
  const counts = Object.fromEntries(RunStatus.options.map((s) => [s, 0])) as Record<RunStatus, number>;
  let total = 0;
  for (const { status, n } of rows) {
    total += n;
    if (status in counts) counts[status as RunStatus] = n;
  }
  return { total, ...counts };
}

export interface RunFilter {
  status?: RunStatus | undefined;
  name?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

export type RunPatch = Partial<Omit<Run, 'run_id' | 'name' | 'params' | 'created_at' | 'requested_by'>>;

/** A start request's Idempotency-Key: the same key from the same caller gets the same run. */
export interface IdempotencyClaim {
  principal: string;
  key: string;
  /** What was asked (tool and parameters), so a key reused for something else can be refused. */
  fingerprint: string;
  /** Older claims are forgotten. */
  ttlMs: number;
}

export interface RunStore {
  /**
   * Records a new run. With a claim, atomically: when the caller's key already names a run (younger than
   * the TTL), nothing is inserted and that run's id and fingerprint are answered instead.
   */
  insert(run: Run, claim?: IdempotencyClaim): Promise<{ runId: string; fingerprint: string | null }>;
  /** Applies the patch and answers the updated run (undefined for an unknown id). */
  update(runId: string, patch: RunPatch): Promise<Run | undefined>;
  get(runId: string): Promise<Run | undefined>;
  /** Newest first; `cursor` continues a previous page. Throws on a malformed cursor. */
  list(filter: RunFilter): Promise<RunList>;
  counts(): Promise<RunCounts>;
  /** Runs left `queued` or `running`, with the process handle recorded for each. */
  unfinished(): Promise<{ run: Run; process: ProcessHandle | null }[]>;
  setProcess(runId: string, handle: ProcessHandle | null): Promise<void>;
  /**
   * Finished runs (never queued or running ones) that retention may delete: finished before
   * `finishedBefore`, or older than the newest `keepPerTool` finished runs of their tool (0: no such rule).
   */
  expired(rule: { finishedBefore: string | null; keepPerTool: number; limit: number }): Promise<string[]>;
  /** Deletes runs' records (and their Idempotency-Keys). */
  remove(runIds: string[]): Promise<void>;
  /** Forgets the Idempotency-Key that named a run, so a retry with it starts anew (the run never started). */
  releaseIdempotencyKey(runId: string): Promise<void>;
  /** Gives the space of deleted records back to the file system. */
  compact(): Promise<void>;
}
