/** A run going on this machine, as its supervisor keeps it from being taken to its final record. */
import type { EndReason, Run, RunLimits } from '../../../../shared/src/schemas/run';
import type { ExitStatus, RunningProcess } from '../../process/executor';
import type { ToolEntry } from '../catalog';
import type { DiskWatch } from '../diskUsage';
import type { LogWriter } from '../logWriter';

export type StopReason = Extract<EndReason, 'stopped' | 'timeout' | 'shutdown' | 'lost' | 'disk_limit'>;

export interface ActiveRun {
  run: Run;
  entry: ToolEntry;
  limits: RunLimits;
  writer?: LogWriter;
  /** The argv it was started with (built where it runs). */
  argv?: string[];
  proc?: RunningProcess;
  /** Set once its process is spawned: a run that never got there ends `spawn_error`. */
  spawned: boolean;
  exit: ExitStatus;
  /** The run's error so far (a refusal, a failure, a limit it went over). */
  error: string | null;
  artifacts: Run['artifacts'];
  summary: Run['summary'];
  timer?: NodeJS.Timeout;
  watch?: DiskWatch | null;
  stop?: { reason: StopReason; by: string | null };
  /** Set once its process has exited: a stop asked for later changes nothing (the run ended by itself). */
  exited?: boolean;
  /** Why it went over its disk limit, when it did (the run's error). */
  overDisk?: string;
  /** Settles with the final run once the process has ended and the log is complete. */
  finished: Promise<Run>;
  /** Called once the run is `running`, or has ended without getting there. */
  markStarted: () => void;
}
