/**
 * Run changes (created, started, ended) for live lists. The in-process default; like the log feed,
 * the same interface can be carried by a message broker between machines.
 */
import type { Run } from '../../../shared/src/schemas/run';

export interface RunFeed {
  publish(run: Run): void;
  /** Calls `listener` with every changed run until the returned function is called. */
  subscribe(listener: (run: Run) => void): () => void;
}

export class LocalRunFeed implements RunFeed {
  private readonly listeners = new Set<(run: Run) => void>();

  publish(run: Run): void {
    for (const listener of this.listeners) listener(run);
  }

  subscribe(listener: (run: Run) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * The changes as an async stream for one reader. A reader that falls behind gets each run's latest
 * state once (pending changes are keyed by run): memory is bounded by the runs that changed, not by
 * how often they did.
 */
export async function* runChanges(feed: RunFeed, signal: AbortSignal): AsyncGenerator<Run> {
  let pending = new Map<string, Run>();
  let wake: (() => void) | undefined;
  const unsubscribe = feed.subscribe((run) => {
    pending.set(run.run_id, run);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    while (!signal.aborted) {
      if (pending.size === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const batch = pending;
      pending = new Map();
      for (const run of batch.values()) yield run;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    unsubscribe();
  }
}
