/**
 * An API node of a fleet: it runs no tool itself. Starts go to the workers' queue, stops to the worker
 * that holds the run (or straight to the database while none has claimed it), live logs come from the
 * log bus, and /fleet and /health tell who is alive.
 */
import { isFinal, type Run } from '../../../shared/src/schemas/run';
import type { Fleet, FleetCounts } from '../../../shared/src/schemas/fleet';
import { unavailable } from '../errors';
import type { Catalog } from '../services/catalog';
import type { LogState } from '../services/logStream';
import type { RemoteExecution } from '../services/runService';
import type { RunStore } from '../store/runStore';
import type { FleetStore } from './fleetStore';
import type { LogMirror } from './logBus';
import type { RunBus } from './runBus';
import type { RunQueue } from './runQueue';

export interface FleetView {
  describe(): Promise<Fleet>;
  counts(): Promise<FleetCounts>;
}

export class FleetApi implements RemoteExecution, FleetView {
  constructor(
    private readonly nodeId: string,
    private readonly deps: { queue: RunQueue; fleet: FleetStore; bus: RunBus; mirror: LogMirror; runs: RunStore; catalog: Catalog },
    private readonly options: { leaseS: number; stopWaitMs: number },
  ) {}

  /** Queues a new run, or again one still queued in the database that Redis lost, under its tool's tag. */
  enqueue = (run: { run_id: string; name: string }): Promise<void> => this.deps.queue.enqueue(run, this.deps.catalog.tagOf(run.name));

  async stop(runId: string, stoppedBy: string | null): Promise<Run> {
    const { fleet, bus, runs } = this.deps;
    const stopped = await fleet.stopQueued(runId, stoppedBy);
    if (stopped) {
      bus.publish(stopped);
      return stopped;
    }
    // A worker holds it: ask, and wait for the end it records (SIGTERM, then SIGKILL after STOP_GRACE_S).
    let unsubscribe = () => {};
    const ended = new Promise<Run>((resolve) => {
      unsubscribe = bus.subscribe((run) => run.run_id === runId && isFinal(run.status) && resolve(run));
    });
    try {
      const heard = await bus.requestStop({ run_id: runId, by: stoppedBy }).catch((e: unknown) => {
        throw unavailable(`the stop could not be sent to the workers: Redis is unavailable (${(e as Error).message}); try again shortly`, 5);
      });
      // No worker listening (all reconnecting, say): nobody will stop it now, and the caller must know.
      if (heard === 0) throw unavailable('no worker is listening for stops right now (reconnecting to Redis?); try again shortly', 5);
      const timeout = new Promise<undefined>((resolve) => setTimeout(resolve, this.options.stopWaitMs));
      const run = (await Promise.race([ended, timeout])) ?? (await runs.get(runId));
      if (!run) throw new Error(`run ${runId} vanished while stopping`);
      return run;
    } finally {
      unsubscribe();
    }
  }

  logState(runId: string): Promise<LogState> {
    return this.deps.mirror.logState(runId);
  }

  logPath(runId: string): string {
    return this.deps.mirror.logPath(runId);
  }

  logComplete(runId: string): Promise<void> {
    return this.deps.mirror.logComplete(runId);
  }

  async describe(): Promise<Fleet> {
    const [nodes, queues] = await Promise.all([this.deps.fleet.nodes(this.options.leaseS), this.deps.queue.counts(this.deps.catalog.tags())]);
    return { node_id: this.nodeId, nodes, queues };
  }

  async counts(): Promise<FleetCounts> {
    const nodes = await this.deps.fleet.nodes(this.options.leaseS);
    const alive = (role: string) => nodes.filter((n) => n.alive && n.role === role).length;
    const queued = await this.deps.queue
      .counts(this.deps.catalog.tags())
      .then((qs) => qs.reduce((n, q) => n + q.waiting + q.delayed, 0))
      .catch(() => 0);
    return { api_nodes: alive('api'), workers: alive('worker'), queued };
  }
}
