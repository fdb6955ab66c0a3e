/**
 * How far a run's log has been written, and where it is, for its readers: on a machine that runs the
 * tools, from the log writers of the runs going here (LocalRunLogs); on a fleet's API node, from its
 * copy of the log bus (fleet/logMirror.ts). One of the two is chosen at the composition root.
 */
import { isFinal, type Run } from '../../../../shared/src/schemas/run';
import { notFound } from '../../errors';
import type { RunStore } from '../../store/runStore';
import type { LogWriter } from '../logWriter';
import type { LogState } from '../logStream';
import type { RunPaths } from './paths';
import type { RunRecords } from './records';

export interface RunLogs {
  /** Where this node keeps the run's log. */
  logPath(runId: string): string;
  /** How far the log may be read, and the final run once it is complete (for the log streamer). */
  logState(runId: string): Promise<LogState>;
  /** Resolves once this node holds the whole log of a finished run (or gives up waiting). */
  logComplete(runId: string): Promise<void>;
  /** The run with its log's length as written now, while it is being written here. */
  withLiveLength(run: Run): Run;
}

export class LocalRunLogs implements RunLogs {
  constructor(
    private readonly deps: {
      paths: RunPaths;
      store: RunStore;
      records: RunRecords;
      /** Runs going here, and their log writer (none before their directories are made). */
      live: { has(runId: string): boolean; writerOf(runId: string): LogWriter | undefined };
    },
  ) {}

  logPath(runId: string): string {
    return this.deps.paths.log(runId);
  }

  async logState(runId: string): Promise<LogState> {
    const { live, records, store } = this.deps;
    if (live.has(runId)) return { length: live.writerOf(runId)?.length ?? 0, ended: null };
    const ended = records.endingOf(runId);
    if (ended) return { length: ended.log_bytes, ended };
    const run = await store.get(runId);
    if (!run) throw notFound(`run_id: no run "${runId}"`);
    if (isFinal(run.status)) return { length: run.log_bytes, ended: run };
    return { length: 0, ended: null };
  }

  /** The log is written here: it is whole once the run has ended. */
  logComplete(): Promise<void> {
    return Promise.resolve();
  }

  withLiveLength(run: Run): Run {
    const writer = this.deps.live.writerOf(run.run_id);
    return writer ? { ...run, log_bytes: writer.length, log_truncated: writer.truncated } : run;
  }
}
