/**
 * A node's membership of the fleet: its lease (a heartbeat in PostgreSQL every FLEET_HEARTBEAT_S, by
 * default a sixth of FLEET_LEASE_S),
 * and the housekeeping every node does on the same beat: runs held by nodes whose lease ran out end as
 * `lost`, and (on API nodes) runs queued in the database that Redis no longer has are queued again.
 *
 * A node that has itself just lost the database waits a whole lease after it answers again before it
 * judges others: their heartbeats failed during the same outage.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Run } from '../../../shared/src/schemas/run';
import type { ProcessHandle } from '../store/runStore';
import type { FleetStore, NodeInfo } from './fleetStore';

export interface MemberOptions {
  leaseS: number;
  /** Between two heartbeats (`heartbeatMsOf`). */
  heartbeatMs: number;
  /** What this node holds now (a worker's runs), sent with each heartbeat. */
  held: () => string[];
  /** Told of each run this node found lost. */
  onLost: (run: Run) => void;
  /** On workers: ends a process of a lost run that ran on this host. */
  endLeftover?: (process: ProcessHandle) => void;
  /** On workers: told of runs it holds that the fleet counts lost (its lease ran out while it was cut off). */
  onHeldLost?: (runIds: string[]) => void;
  /** On API nodes: queues again a run the queue lost (Redis restarted empty). */
  requeue?: (run: { run_id: string; name: string }) => Promise<void>;
  /** On workers: what else is checked at each heartbeat that landed (fleet/workerBeat.ts). */
  onBeat?: () => Promise<void>;
  onError: (message: string, e: unknown) => void;
}

export const heartbeatMsOf = (config: { FLEET_LEASE_S: number; FLEET_HEARTBEAT_S?: number | undefined }): number => (config.FLEET_HEARTBEAT_S ?? config.FLEET_LEASE_S / 6) * 1000;

/** Whether a process of this pid exists on this host (signal 0 tests without sending). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function nodeInfo(role: NodeInfo['role'], tags: string[], concurrency: number): NodeInfo {
  const host = hostname();
  return { id: `${role}-${host}-${process.pid}-${randomBytes(3).toString('hex')}`, role, host, pid: process.pid, tags, concurrency };
}

export class FleetMember {
  private timer: NodeJS.Timeout | undefined;
  /** Since when the database has answered this node without a break (null: it does not now). */
  private answeringSince: number | null = null;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: FleetStore,
    readonly node: NodeInfo,
    private readonly options: MemberOptions,
  ) {}

  /** Joins: the first heartbeat must land (a node that cannot reach the database does not start). */
  async join(): Promise<void> {
    await this.store.heartbeat(this.node, this.options.held());
    this.answeringSince = Date.now();
    this.timer = setInterval(() => {
      this.beating = this.beat();
    }, this.options.heartbeatMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      await this.store.heartbeat(this.node, this.options.held());
      this.answeringSince ??= Date.now();
    } catch (e) {
      if (this.answeringSince !== null) this.options.onError('renewing this node\'s lease failed (the database does not answer)', e);
      this.answeringSince = null;
      return;
    }
    try {
      if (Date.now() - this.answeringSince >= this.options.leaseS * 1000) for (const run of await this.store.reap(this.options.leaseS)) this.options.onLost(run);
      if (this.options.endLeftover) await this.endLeftovers(this.options.endLeftover);
      // Runs still going here that the fleet counted lost while this node was cut off: the worker ends them.
      const held = this.options.held();
      if (this.options.onHeldLost && held.length) {
        const lost = await this.store.lostAmong(this.node.id, held);
        if (lost.length) this.options.onHeldLost(lost);
      }
      await this.options.onBeat?.();
      await this.store.prune();
      if (this.options.requeue) for (const run of await this.store.unclaimed(this.options.leaseS)) await this.options.requeue(run);
    } catch (e) {
      this.options.onError('fleet housekeeping failed', e);
    }
  }

  /**
   * Ends what lost runs of dead workers of this host left running. A worker of this host that is alive
   * (cut off from the database, say) ends its own runs: they are not touched.
   */
  private async endLeftovers(end: (process: ProcessHandle) => void): Promise<void> {
    for (const { runId, process, owner, workerPid } of await this.store.leftovers(this.node.host)) {
      // Its own runs (counted lost while it was cut off) a worker ends through onHeldLost, with their grace.
      if (owner === this.node.id || isAlive(workerPid)) continue;
      end(process);
      await this.store.forgetProcess(runId);
    }
  }

  /** Leaves the fleet (a clean stop: its runs have ended). */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.store.leave(this.node.id).catch((e: unknown) => this.options.onError('leaving the fleet failed', e));
  }
}
