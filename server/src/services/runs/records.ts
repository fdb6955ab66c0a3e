/**
 * One way a run's record changes: written to the store, then told to live lists (the run feed).
 * Writes that must land (a run that is going, a run's end) wait out a database outage; a final
 * record that still does not land is tried again until it does (on a fleet's worker, at each
 * heartbeat too), the run answered as it ended meanwhile. Listeners hear of each run whose end is
 * recorded (logs, metrics, archiving).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Run } from '../../../../shared/src/schemas/run';
import { asDomainError } from '../../errors';
import { retryDelayMs } from '../../lib/retryDelay';
import type { RunPatch, RunStore } from '../../store/runStore';
import type { RunFeed } from '../runFeed';

/** How long a run's state is tried again while the database is unreachable (and while shutting down). */
const PERSIST_MS = 10 * 60 * 1000;
export const SHUTDOWN_PERSIST_MS = 5000;

export class RunRecords {
  /**
   * Runs that have ended whose final record has not landed yet (the database refused it: a full disk,
   * say), as they ended: answered as such until the record, tried again until it lands, is written.
   */
  private readonly ending = new Map<string, Run>();
  /** Final records being tried again; shutdown gives them a last chance. */
  private readonly recording = new Set<Promise<void>>();
  private readonly endListeners: ((run: Run) => void)[] = [];
  /** Shutting down, the wait is short: the server must exit within its grace. */
  private patienceMs = PERSIST_MS;
  /** Wakes the final records waiting to be tried again (`resend`). */
  private wake = Promise.withResolvers<void>();

  constructor(
    readonly store: RunStore,
    readonly feed: RunFeed,
    private readonly onError: (message: string, e: unknown) => void,
  ) {}

  /** Records a change of a run and tells live lists about it. */
  async update(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const run = await this.store.update(runId, patch);
    if (run) this.feed.publish(run);
    return run;
  }

  /** Tells live lists about a run (a new one, or one whose record could not be written). */
  publish(run: Run): void {
    this.feed.publish(run);
  }

  /**
   * A write that must land (a run's final state): while the database is unreachable it is tried again
   * every second, for up to PERSIST_MS; other errors fail at once.
   */
  async persist<T>(write: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (e) {
        if (asDomainError(e)?.kind !== 'unavailable' || Date.now() - started > this.patienceMs) throw e;
        if (attempt === 1) this.onError('the database is unavailable: the run\'s state will be recorded once it answers', e);
        await sleep(1000);
      }
    }
  }

  /** From now on a write that must land waits only briefly (shutdown). */
  stopAccepting(): void {
    this.patienceMs = SHUTDOWN_PERSIST_MS;
  }

  /** A run as it ended when its final record has not landed yet; as stored otherwise. */
  asEnded(run: Run): Run {
    return this.ending.get(run.run_id) ?? run;
  }

  /** Runs that have ended whose final record has not landed yet (a fleet's worker still holds them). */
  get pending(): string[] {
    return [...this.ending.keys()];
  }

  /** Tries the final records that have not landed again now (a fleet's worker, at each heartbeat). */
  resend(): void {
    this.wake.resolve();
    this.wake = Promise.withResolvers<void>();
  }

  /** The run as it ended, while its final record has not landed. */
  endingOf(runId: string): Run | undefined {
    return this.ending.get(runId);
  }

  /** Called with each run whose end is recorded. */
  onEnded(listener: (run: Run) => void): void {
    this.endListeners.push(listener);
  }

  /** Tells the listeners a run's end is recorded. */
  ended(final: Run): void {
    for (const listener of this.endListeners) listener(final);
  }

  /**
   * Records a run's end (`ended`, made of the run and `patch`). Answers the final run once it landed;
   * undefined when it did not: the run is answered as `ended` from here on and its record tried again
   * until it lands (`landedLate` is told then, with the run or null when it is gone).
   */
  async end(ended: Run, patch: RunPatch, landedLate: (final: Run | null) => void): Promise<Run | undefined> {
    const runId = ended.run_id;
    this.ending.set(runId, ended);
    try {
      return await this.writeEnd(runId, patch);
    } catch (e) {
      this.onError(`recording the end of run ${runId} failed: it is tried again until it lands`, e);
      this.feed.publish(ended);
      this.retryEnd(runId, patch, landedLate);
      return undefined;
    }
  }

  /** Writes a run's final record (its summary left out if the database refuses it); throws when it could not. */
  private async writeEnd(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const final = await this.persist(() => this.update(runId, patch)).catch(async (e: unknown) => {
      // Something in the summary the database refuses: the run's end matters more than its summary.
      if (asDomainError(e)?.kind === 'unavailable' || !patch.summary) throw e;
      return this.persist(() => this.update(runId, { ...patch, summary: null }));
    });
    await this.persist(() => this.store.setProcess(runId, null));
    this.ending.delete(runId);
    return final;
  }

  /** A final record that did not land is tried again, less often as it goes on, until it does. */
  private retryEnd(runId: string, patch: RunPatch, landedLate: (final: Run | null) => void): void {
    const work = (async () => {
      for (let attempt = 1; ; attempt++) {
        await Promise.race([sleep(retryDelayMs(attempt), undefined, { ref: false }), this.wake.promise]);
        const final = await this.writeEnd(runId, patch).then((r) => r ?? null, () => undefined);
        if (final === undefined) continue;
        landedLate(final);
        return;
      }
    })();
    this.recording.add(work);
    void work.finally(() => this.recording.delete(work));
  }

  /** A final record still refused gets a last chance (shutdown); otherwise the next start marks its run lost. */
  async drain(): Promise<void> {
    if (this.recording.size) await Promise.race([Promise.all(this.recording), sleep(SHUTDOWN_PERSIST_MS)]);
  }
}
