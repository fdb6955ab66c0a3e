/**
 * What a worker checks at each heartbeat that lands, beside its lease: what pub/sub may not have told
 * it, reconciled against PostgreSQL.
 *
 * - Stops asked for runs it holds: a worker away from Redis when the message went missed it.
 */
import type { FleetStore } from './fleetStore';
import type { StopRequest } from './runBus';

export interface WorkerBeatDeps {
  store: FleetStore;
  /** Runs this worker holds: waiting for a slot, or running. */
  held: () => string[];
  stop: (request: StopRequest) => void;
}

export async function workerBeat({ store, held, stop }: WorkerBeatDeps): Promise<void> {
  const holding = held();
  if (holding.length) for (const request of await store.stopsAmong(holding)) stop(request);
}
