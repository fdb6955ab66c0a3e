/**
 * The CLI's exit codes, so a CI job can gate on a run: the tool's own code when it exited, and codes
 * of the client's own, documented in docs/cli.md, for every other way a run or a request can end.
 */
import { constants } from 'node:os';
import type { Run } from '../../../../shared/src/schemas/run';

export const EXIT = {
  /** A command or flag the CLI does not know, or a missing argument. */
  usage: 64,
  /** The server refused the request (4xx): bad parameters, unknown tool or run, tool unavailable, bad credential, role too low, too many requests, a stop of an ended run. */
  refused: 65,
  /** The server could not be reached, or kept answering 5xx, for longer than --give-up. */
  unreachable: 66,
  /** The run failed before its tool ran (`end_reason: spawn_error`). */
  failedToStart: 67,
  stopped: 68,
  timedOut: 69,
  /** The server died while the run went (`lost`). */
  lost: 70,
} as const;

/** What the CLI exits with once `run` has ended (a run that has not ended yet: 0, the start was accepted). */
export function exitCodeOf(run: Run): number {
  switch (run.status) {
    case 'queued':
    case 'running':
      return 0;
    case 'stopped':
      return EXIT.stopped;
    case 'timed_out':
      return EXIT.timedOut;
    case 'lost':
      return EXIT.lost;
    case 'succeeded':
    case 'failed':
      if (run.end_reason === 'spawn_error') return EXIT.failedToStart;
      if (run.exit_code !== null) return run.exit_code;
      // Killed by a signal (its memory limit, say): 128 + its number, as a shell says it.
      if (run.signal) return 128 + (constants.signals[run.signal as NodeJS.Signals] ?? 0);
      return run.status === 'succeeded' ? 0 : 1;
  }
}
