/**
 * An API node's dispatcher: it runs no tool itself. Starts go to the workers' queue (the worker checks
 * paths and tools on its own machine), stops to the worker that holds the run, or straight to the
 * database while none has claimed it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinal, type Run } from '../../../shared/src/schemas/run';
import { unavailable } from '../errors';
import type { Catalog, ToolEntry } from '../services/catalog';
import type { FleetCatalog } from './fleetCatalog';
import { validateParams } from '../services/params';
import type { QueuedRun, RunDispatcher } from '../services/runs/dispatcher';
import type { RunRecords } from '../services/runs/records';
import type { FleetStore } from './fleetStore';
import type { RunBus } from './runBus';
import type { RunQueue } from './runQueue';

export class FleetDispatcher implements RunDispatcher {
  readonly runningCount = 0;
  readonly queuedCount = 0;

  constructor(
    private readonly deps: { queue: RunQueue; catalog: Catalog; tools: Pick<FleetCatalog, 'refusal'>; fleet: FleetStore; bus: RunBus; records: RunRecords; onError: (message: string, e: unknown) => void },
    /** `stopWaitMs`: how long a stop waits for the run's end; `pollMs`: how often it reads the run meanwhile. */
    private readonly options: { stopWaitMs: number; pollMs: number },
  ) {}

  /** The paths are not on this machine (the worker checks them); a tool no live worker can run is refused. */
  admit(entry: ToolEntry, params: Record<string, unknown> | undefined): Record<string, unknown> {
    const valid = validateParams(entry.params, params, null);
    const refused = this.deps.tools.refusal(entry);
    if (refused) throw refused;
    return valid;
  }

  /** Queues a new run, or again one still queued in the database that Redis lost, under its tool's tag. */
  enqueue = (run: QueuedRun): Promise<void> => this.deps.queue.enqueue(run, this.deps.catalog.tagOf(run.name));

  /** When the queue cannot take the run, it fails now, clearly. */
  async dispatch(run: QueuedRun): Promise<void> {
    const { records, fleet } = this.deps;
    try {
      await this.enqueue(run);
    } catch (e) {
      const error = `could not be queued: the run queue (Redis) is unavailable: ${(e as Error).message}`;
      // Only while no worker has claimed it: the job may have landed with its answer lost (Redis cut as it
      // replied), and a worker that took it runs it; failing it then would answer "not started" for a run
      // that goes on (and a retry would run the tool twice). Once failed, no worker can claim it.
      const failed = await fleet.failUnclaimed(run.run_id, error).catch(() => null);
      if (failed === undefined) return;
      if (failed) records.publish(failed);
      // The answer says "try again": a retry with the same Idempotency-Key must start the run, not get this one back.
      await records.store.releaseIdempotencyKey(run.run_id).catch(() => undefined);
      throw unavailable(`the run queue (Redis) is unavailable, so the run was not started: try again shortly (${(e as Error).message})`, 5);
    }
  }

  requeue(runs: QueuedRun[]): void {
    for (const run of runs) this.enqueue(run).catch((e: unknown) => this.deps.onError(`queuing run ${run.run_id} again failed`, e));
  }

  /** Nothing is launched here. */
  launched(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * A run a worker holds: the stop is kept in the database (the worker reads it at its next heartbeat
   * should it miss the message, reconnecting to Redis say) and sent over pub/sub, the fast way. Answers
   * the run once ended, or as it is after `stopWaitMs`.
   */
  async stop(run: Run, stoppedBy: string | null): Promise<Run> {
    const { fleet, bus, records, onError } = this.deps;
    const runId = run.run_id;
    const stopped = await fleet.stopQueued(runId, stoppedBy);
    if (stopped) {
      bus.publish(stopped);
      return stopped;
    }
    // Its end comes over pub/sub, or is read from the database (the worker may be away from Redis).
    let unsubscribe = () => {};
    const heard = new Promise<Run>((resolve) => {
      unsubscribe = bus.subscribe((r) => r.run_id === runId && isFinal(r.status) && resolve(r));
    });
    const done = new AbortController();
    const read = (async () => {
      for (const until = Date.now() + this.options.stopWaitMs; Date.now() < until; ) {
        await sleep(this.options.pollMs, undefined, { signal: done.signal });
        const r = await records.store.get(runId).catch(() => undefined);
        if (r && isFinal(r.status)) return r;
      }
      return undefined;
    })().catch(() => undefined);
    try {
      await fleet.requestStop(runId, stoppedBy);
      await bus.requestStop({ run_id: runId, by: stoppedBy }).catch((e: unknown) => onError(`sending the stop of run ${runId} over Redis failed: its worker reads it at its next heartbeat`, e));
      const last = (await Promise.race([heard, read])) ?? (await records.store.get(runId));
      if (!last) throw new Error(`run ${runId} vanished while stopping`);
      return last;
    } finally {
      done.abort();
      unsubscribe();
    }
  }

  /** Nothing to give back: the workers hold the runs. */
  stopAccepting(): void {}

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
