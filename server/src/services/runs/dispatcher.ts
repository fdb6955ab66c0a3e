/**
 * Dispatch apart from execution: how a recorded run gets to whoever runs it. A single server (and a
 * fleet's worker) queues runs in process and runs them here (LocalDispatcher); a fleet's API node
 * hands them to the workers' queue (fleet/fleetDispatcher.ts). One of the two is chosen at the
 * composition root; the RunService facade never asks which.
 */
import type { Run } from '../../../../shared/src/schemas/run';
import type { ToolEntry } from '../catalog';

/** What a dispatcher needs of a run to hand it on. */
export type QueuedRun = Pick<Run, 'run_id' | 'name'>;

export interface RunDispatcher {
  /** Checks a start against where its tool will run; answers its parameters, validated (a 400 or 409 otherwise). */
  admit(entry: ToolEntry, params: Record<string, unknown> | undefined): Record<string, unknown>;
  /** Hands a new `queued` run on; resolves once it is running or waits its turn (throws when it could not be handed on). */
  dispatch(run: QueuedRun): Promise<void>;
  /** Hands on again runs still `queued` in the store (at start-up). */
  requeue(runs: QueuedRun[]): void;
  /** Resolves once a run being taken from the queue has been (a stop waits: it holds a slot, not yet a process). */
  launched(runId: string): Promise<void>;
  /** Stops a run that has not ended, wherever it is; resolves with the run once it has ended. */
  stop(run: Run, stoppedBy: string | null): Promise<Run>;
  /** Runs going in this process (taking a slot). */
  readonly runningCount: number;
  /** Runs waiting for a slot in this process. */
  readonly queuedCount: number;
  /** Takes no new run from now on. */
  stopAccepting(): void;
  /** Lets the runs going here finish for up to `graceMs`, then stops what is left. */
  shutdown(graceMs: number): Promise<void>;
}
