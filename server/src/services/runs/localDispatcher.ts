/**
 * Runs queued in this process, first in first out, while there are free slots: MAX_CONCURRENT_RUNS
 * in all, and a tool's own `concurrency`. A run whose tool is at its limit, or whose cache (a
 * scanner's database, locked and updated by one run at a time) is in use, waits without holding back
 * runs of other tools queued after it. The launcher (the supervisor) runs what leaves the queue.
 */
import type { Run } from '../../../../shared/src/schemas/run';
import { conflict, unavailable } from '../../errors';
import type { Catalog, ToolEntry } from '../catalog';
import { validateParams } from '../params';
import type { StopReason } from './activeRun';
import type { QueuedRun, RunDispatcher } from './dispatcher';

/** What runs a run once it leaves the queue. */
export interface RunLauncher {
  /**
   * Takes the run and starts it; `done` is called once it has ended and its slot is free. Resolves
   * once it is running or has ended without getting there; with false when there was none to take
   * (stopped meanwhile, another node has it). Rejects when it could not be taken.
   */
  launch(runId: string, done: () => void): Promise<boolean>;
  /** Stops a run it holds, resolving with it once ended; undefined when it holds none of that id. */
  stop(runId: string, reason: StopReason, by: string | null): Promise<Run> | undefined;
  /** Ends a held run the fleet counted lost; whether it began to. */
  abandon(runId: string): boolean;
  /** Lets held runs finish for up to `graceMs`, then stops the rest. */
  shutdown(graceMs: number): Promise<void>;
}

export interface LocalDispatcherOptions {
  maxConcurrentRuns: number;
  /**
   * On a fleet's worker a tool's `concurrency` and `cache` are held across the fleet when the run is
   * claimed (a run that must wait goes back to the queue, where any worker may take it): not here.
   */
  limitsHeldElsewhere?: boolean;
  /** Where path parameters must not point (LOG_DIR). */
  logDir: string;
}

export class LocalDispatcher implements RunDispatcher {
  /** Queued runs, oldest first, with their tool (for per-tool limits). */
  private readonly queue: { runId: string; name: string }[] = [];
  /** Runs holding a slot, with their tool: from leaving the queue to the end of their run. */
  private readonly slots = new Map<string, string>();
  private readonly launching = new Map<string, Promise<void>>();
  /** Runs handed over by `execute`, and what tells their caller they are over. */
  private readonly executing = new Map<string, { over: Promise<void>; settle: (error?: Error) => void }>();
  private accepting = true;

  constructor(
    private readonly deps: {
      launcher: RunLauncher;
      catalog: Pick<Catalog, 'get' | 'unavailableReason'>;
      /** Records a queued run stopped before it ran, and tells its readers. */
      recordStop: (run: Run, stoppedBy: string | null) => Promise<Run>;
    },
    private readonly options: LocalDispatcherOptions,
  ) {}

  /** Checked here, where the tool runs: its paths on this disk, installed, its limits enforceable. */
  admit(entry: ToolEntry, params: Record<string, unknown> | undefined): Record<string, unknown> {
    const valid = validateParams(entry.params, params, [this.options.logDir]);
    const missing = this.deps.catalog.unavailableReason(entry);
    if (missing) throw conflict(`tool "${entry.name}" is not available on this server: ${missing}`);
    return valid;
  }

  async dispatch(run: QueuedRun): Promise<void> {
    this.queue.push({ runId: run.run_id, name: run.name });
    this.fill();
    await this.launching.get(run.run_id);
  }

  requeue(runs: QueuedRun[]): void {
    for (const run of runs) this.queue.push({ runId: run.run_id, name: run.name });
    this.fill();
  }

  /**
   * On a worker: runs a run taken from the fleet's queue, within this node's slots and limits, as
   * `dispatch` would have. Resolves once it is over, or at once when another node has it or it was stopped.
   */
  execute(runId: string, name: string): Promise<void> {
    if (!this.accepting) return Promise.reject(unavailable('this worker is shutting down', 5));
    // Delivered again while this process still holds it: the same run, the same end.
    const held = this.executing.get(runId);
    if (held) return held.over;
    const { promise: over, resolve, reject } = Promise.withResolvers<void>();
    this.executing.set(runId, { over, settle: (error) => (error === undefined ? resolve() : reject(error)) });
    this.queue.push({ runId, name });
    this.fill();
    return over;
  }

  async launched(runId: string): Promise<void> {
    await this.launching.get(runId)?.catch(() => undefined);
  }

  async stop(run: Run, stoppedBy: string | null): Promise<Run> {
    const held = this.deps.launcher.stop(run.run_id, 'stopped', stoppedBy);
    if (held) return held;
    this.dequeue(run.run_id);
    return this.deps.recordStop(run, stoppedBy);
  }

  /** Run ids this process holds now (waiting for a slot or running). */
  get held(): string[] {
    return [...this.queue.map((q) => q.runId), ...this.slots.keys()];
  }

  get runningCount(): number {
    return this.slots.size;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  /**
   * On a worker whose lease ran out while it was cut off from the database: the fleet has counted these
   * runs lost, so they are ended here too (recorded `lost`, saying why) rather than going on unseen.
   * Answers the runs it began to end now.
   */
  abandon(runIds: string[]): string[] {
    const ended: string[] = [];
    for (const runId of runIds) {
      if (this.dequeue(runId)) ended.push(runId);
      if (this.deps.launcher.abandon(runId)) ended.push(runId);
    }
    return ended;
  }

  /** Queued runs stay queued (in the store) for the next start; `execute` callers are told they are over. */
  stopAccepting(): void {
    this.accepting = false;
    for (const { runId } of this.queue.splice(0)) this.settle(runId);
  }

  async shutdown(graceMs: number): Promise<void> {
    this.stopAccepting();
    await this.deps.launcher.shutdown(graceMs);
  }

  /** Starts queued runs while there are free slots (see the header). */
  private fill(): void {
    for (let i = 0; i < this.queue.length && this.accepting && this.slots.size < this.options.maxConcurrentRuns; ) {
      const { runId, name } = this.queue[i] ?? { runId: '', name: '' };
      const entry = this.deps.catalog.get(name);
      const limit = this.options.limitsHeldElsewhere ? undefined : entry?.concurrency;
      const cache = this.options.limitsHeldElsewhere ? undefined : entry?.cache;
      if ((limit !== undefined && this.countOf(name) >= limit) || (cache !== undefined && this.cacheInUse(cache))) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.slots.set(runId, name);
      const launch = this.launch(runId).finally(() => this.launching.delete(runId));
      // A failure is for dispatch() to report; a launch nobody awaits must not end the process.
      launch.catch(() => undefined);
      this.launching.set(runId, launch);
    }
  }

  private async launch(runId: string): Promise<void> {
    let taken: boolean;
    try {
      taken = await this.deps.launcher.launch(runId, () => this.release(runId));
    } catch (e) {
      // A run handed over by `execute` fails its caller (the queue tries it again); a local start fails its request.
      const local = !this.executing.has(runId);
      this.release(runId, e as Error);
      if (local) throw e;
      return;
    }
    if (!taken) this.release(runId);
  }

  /** The run has left its slot (ended, or was not there to take): its caller is told, the next one goes. */
  private release(runId: string, error?: Error): void {
    this.slots.delete(runId);
    this.settle(runId, error);
    this.fill();
  }

  /** Takes a run out of the queue (telling an `execute` caller it is over); whether it was there. */
  private dequeue(runId: string): boolean {
    const at = this.queue.findIndex((q) => q.runId === runId);
    if (at < 0) return false;
    this.queue.splice(at, 1);
    this.settle(runId);
    return true;
  }

  private settle(runId: string, error?: Error): void {
    this.executing.get(runId)?.settle(error);
    this.executing.delete(runId);
  }

  private cacheInUse(cache: string): boolean {
    for (const name of this.slots.values()) if (this.deps.catalog.get(name)?.cache === cache) return true;
    return false;
  }

  private countOf(name: string): number {
    let n = 0;
    for (const held of this.slots.values()) if (held === name) n++;
    return n;
  }
}
