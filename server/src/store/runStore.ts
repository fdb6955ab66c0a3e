/**
 * The run store: where every run is recorded. The interface is asynchronous so that engines other
 * than the embedded SQLite can stand behind it unchanged.
 */
import type { RunCounts } from '../../../shared/src/schemas/health';
import type { Run, RunList, RunStatus } from '../../../shared/src/schemas/run';

/** What lets a later process find a run's process again after a crash: a PID and its start time. */
export interface ProcessHandle {
  isolation: 'pid-namespace' | 'process-group';
  pid: number;
  /** Field 22 of /proc/PID/stat, so a reused PID is never mistaken for the run's. */
  startTicks: string;
}

export interface RunFilter {
  status?: RunStatus | undefined;
  name?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

export type RunPatch = Partial<Omit<Run, 'run_id' | 'name' | 'cmd' | 'params' | 'created_at' | 'requested_by'>>;

export interface RunStore {
  insert(run: Run): Promise<void>;
  /** Applies the patch and answers the updated run (undefined for an unknown id). */
  update(runId: string, patch: RunPatch): Promise<Run | undefined>;
  get(runId: string): Promise<Run | undefined>;
  /** Newest first; `cursor` continues a previous page. Throws on a malformed cursor. */
  list(filter: RunFilter): Promise<RunList>;
  counts(): Promise<RunCounts>;
  /** Runs left `queued` or `running`, with the process handle recorded for each. */
  unfinished(): Promise<{ run: Run; process: ProcessHandle | null }[]>;
  setProcess(runId: string, handle: ProcessHandle | null): Promise<void>;
}
