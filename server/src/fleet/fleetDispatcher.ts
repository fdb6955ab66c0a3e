/**
 * An API node's dispatcher: it runs no tool itself. Starts go to the workers' queue (the worker checks
 * paths and tools on its own machine), stops to the worker that holds the run, or straight to the
 * database while none has claimed it.
 */
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
    private readonly options: { stopWaitMs: number },
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
    const { records } = this.deps;
    try {
      await this.enqueue(run);
    } catch (e) {
      const error = `could not be queued: the run queue (Redis) is unavailable: ${(e as Error).message}`;
      await records.update(run.run_id, { status: 'failed', end_reason: 'spawn_error', error, finished_at: new Date().toISOString() }).catch(() => undefined);
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

  async stop(run: Run, stoppedBy: string | null): Promise<Run> {
    const { fleet, bus, records } = this.deps;
    const runId = run.run_id;
    const stopped = await fleet.stopQueued(runId, stoppedBy);
    if (stopped) {
      bus.publish(stopped);
      return stopped;
    }
    // A worker holds it: ask, and wait for the end it records (SIGTERM, then SIGKILL after STOP_GRACE_S).
    let unsubscribe = () => {};
    const ended = new Promise<Run>((resolve) => {
      unsubscribe = bus.subscribe((r) => r.run_id === runId && isFinal(r.status) && resolve(r));
    });
    try {
      const heard = await bus.requestStop({ run_id: runId, by: stoppedBy }).catch((e: unknown) => {
        throw unavailable(`the stop could not be sent to the workers: Redis is unavailable (${(e as Error).message}); try again shortly`, 5);
      });
      // No worker listening (all reconnecting, say): nobody will stop it now, and the caller must know.
      if (heard === 0) throw unavailable('no worker is listening for stops right now (reconnecting to Redis?); try again shortly', 5);
      const timeout = new Promise<undefined>((resolve) => setTimeout(resolve, this.options.stopWaitMs));
      const last = (await Promise.race([ended, timeout])) ?? (await records.store.get(runId));
      if (!last) throw new Error(`run ${runId} vanished while stopping`);
      return last;
    } finally {
      unsubscribe();
    }
  }

  /** Nothing to give back: the workers hold the runs. */
  stopAccepting(): void {}

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
