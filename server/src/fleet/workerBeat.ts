/**
 * What a worker checks at each heartbeat that lands, beside its lease: what pub/sub may not have told
 * it, and what its own memory may have lost, reconciled against PostgreSQL.
 *
 * - Stops asked for runs it holds: a worker away from Redis when the message went missed it.
 * - The ends of its runs not recorded yet: sent again (until they land, or the fleet has judged the run).
 * - Runs recorded as its own that it neither runs nor is recording: they end as `lost` (the reaper
 *   judges only the runs of dead nodes, so nobody else would).
 */
import type { Run } from '../../../shared/src/schemas/run';
import type { FleetStore } from './fleetStore';
import type { StopRequest } from './runBus';

export interface WorkerBeatDeps {
  store: FleetStore;
  nodeId: string;
  /** Runs this worker holds: waiting for a slot, running, or whose end is being recorded. */
  held: () => string[];
  stop: (request: StopRequest) => void;
  /** Sends again the ends not recorded yet. */
  resend: () => void;
  onLost: (run: Run) => void;
}

export async function workerBeat({ store, nodeId, held, stop, resend, onLost }: WorkerBeatDeps): Promise<void> {
  const holding = held();
  if (holding.length) for (const request of await store.stopsAmong(holding)) stop(request);
  resend();
  const recorded = await store.unfinishedOf(nodeId);
  if (!recorded.length) return;
  // Read after the database answered: a run claimed before that answer is held by now, or recorded as ended.
  const now = new Set(held());
  const forgotten = recorded.filter((id) => !now.has(id));
  if (forgotten.length) for (const run of await store.loseForgotten(nodeId, forgotten)) onLost(run);
}
