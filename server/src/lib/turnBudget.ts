/**
 * At most a few callers go on per turn of the event loop; the others wait for the next turns. Work
 * that wakes up together (200 starts answered by one readiness probe) would otherwise run in one
 * turn, holding every stream and timer for all of it: 200 starts at about half a millisecond each is
 * a 100 ms stall. Let through a few per turn, the loop gets round to everything else in between.
 */
export class TurnBudget {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly perTurn: number) {}

  /** Resolves in the next turn (its check phase) that has room: callers beyond `perTurn` go to the turns after. */
  pass(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.waiting.push(resolve);
    this.schedule();
    return promise;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate queued from within the check phase runs in the next turn, after timers and I/O.
    setImmediate(() => {
      this.scheduled = false;
      for (const resolve of this.waiting.splice(0, this.perTurn)) resolve();
      if (this.waiting.length) this.schedule();
    });
  }
}
