/**
 * What `npm start` is: a single server (the default), or a fleet's API node (REDIS_URL, in
 * fleet/apiNode.ts, imported only then). main.ts chooses once; the rest of the server never asks.
 */
import type { FleetView } from './services';
import type { Runtime } from './runtime';
import type { CatalogView } from './services/catalog';
import { memoryLimits, type RateLimits } from './services/auth/authenticator';
import { LocalLogFeed, type LogFeed } from './services/logFeed';
import { LocalRunFeed } from './services/runFeed';
import { createLocalRuns, type RunLogs, type RunService, type RunServiceOptions } from './services/runs';
import { recordedIntake } from './services/runs/intake';

export interface ServerMode {
  runs: RunService;
  /** The catalog as listed: what this machine can run, or on a fleet's API node, what its workers can. */
  catalog: CatalogView;
  /** Tells log readers that a run's log grew or ended. */
  feed: LogFeed;
  logs: RunLogs;
  /** Who is alive and what is queued, on a fleet; null on a single server. */
  fleet: FleetView | null;
  /** Where rate limits are counted: this process's memory, or Redis for all of a fleet's API nodes. */
  limits: RateLimits;
  /** What the start-up line says of it. */
  describe: string;
  /** Before serving: recovers what the server's last life left, or joins the fleet. */
  start(): Promise<void>;
  /** After the runs and the HTTP server have stopped: leaves the fleet, closes its connections. */
  close(): Promise<void>;
}

/** One process runs the tools it is asked for, and keeps their runs and logs on its own disk. */
export function singleServer(rt: Runtime, options: RunServiceOptions): ServerMode {
  const { stores, catalog, executor, log } = rt;
  const feed = new LocalLogFeed();
  const { runs, logs } = createLocalRuns({ store: stores.runs, catalog, executor, feed, runFeed: new LocalRunFeed(), intake: recordedIntake(stores.runs) }, options);
  return {
    runs,
    catalog,
    feed,
    logs,
    fleet: null,
    limits: memoryLimits,
    describe: `isolation: ${executor.isolation}`,
    start: async () => {
      const recovered = await runs.recover();
      if (recovered.lost) log.warn(`${recovered.lost} run(s) were going when the server last stopped: marked lost`);
    },
    close: () => Promise.resolve(),
  };
}
