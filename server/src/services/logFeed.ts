/**
 * The live log fan-out: writers announce "the log of run X grew or ended", readers wait for it.
 * Nothing but the announcement travels here; every reader reads the bytes from the log file at its
 * own position, so a slow reader costs nobody else anything. This in-process feed is the embedded
 * default; the same interface can be carried by a message broker between machines.
 */
export interface LogFeed {
  publish(runId: string): void;
  /** Calls `listener` after every publish for the run until the returned function is called. */
  subscribe(runId: string, listener: () => void): () => void;
}

export class LocalLogFeed implements LogFeed {
  private readonly listeners = new Map<string, Set<() => void>>();

  publish(runId: string): void {
    const set = this.listeners.get(runId);
    if (set) for (const listener of set) listener();
  }

  subscribe(runId: string, listener: () => void): () => void {
    let set = this.listeners.get(runId);
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }

  /** How many readers are waiting on live logs (for /health and metrics). */
  get subscribers(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
