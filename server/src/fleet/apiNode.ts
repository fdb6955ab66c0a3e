/**
 * A fleet's API node (`npm start` with REDIS_URL): it runs no tool. Runs go to the workers' queue, logs
 * come back over the log bus, and it keeps a lease like every node. Imported by main.ts only when
 * REDIS_URL is set, so a single server never loads BullMQ or ioredis.
 */
import path from 'node:path';
import type { Metrics } from '../metrics';
import type { Runtime } from '../runtime';
import type { ServerMode } from '../serverMode';
import { createRecords, createRunService, type RunServiceOptions } from '../services/runs';
import { FleetApi } from './api';
import { FleetCatalog } from './fleetCatalog';
import { FleetDispatcher } from './fleetDispatcher';
import { linkFleet } from './link';
import { LogMirror } from './logMirror';
import { FleetMember, heartbeatMsOf, nodeInfo } from './member';
import { redisLimits } from './rateLimits';
import { RunQueue } from './runQueue';

export async function fleetApiNode({ rt, redisUrl, options, metrics }: { rt: Runtime; redisUrl: string; options: RunServiceOptions; metrics: Metrics }): Promise<ServerMode> {
  const { config, catalog, stores, archive, logDir, log } = rt;
  const fleet = await linkFleet({ url: redisUrl, prefix: config.REDIS_PREFIX, stores, log, role: 'server' });
  const node = nodeInfo('api', [], 0);
  const queue = new RunQueue({ url: redisUrl, prefix: config.REDIS_PREFIX, tags: catalog.tags(), onError: log.error });
  // Copies of logs in a directory of their own: a worker sharing this LOG_DIR keeps its runs/ to itself.
  const mirror = new LogMirror({ redis: fleet.redis, prefix: config.REDIS_PREFIX, dir: path.join(logDir, 'mirror'), getRun: (id) => stores.runs.get(id), writerGone: (id) => fleet.store.ownerGone(id, config.FLEET_LEASE_S) }, {
    blockMs: 1000,
    idleEndMs: 10_000,
    onError: log.error,
    ...(archive ? { archivedLog: (id: string, from: number) => archive.readLog(id, from), archivedLogTimes: (id: string) => archive.readLogTimes(id) } : {}),
  });
  const records = createRecords(stores.runs, fleet.bus, options);
  // A stop reaches its worker at once, or at its next heartbeat; then the tool has STOP_GRACE_S to end.
  const heartbeatMs = heartbeatMsOf(config);
  // The tools are where the workers are: listed, and starts admitted, by what they say they can run.
  const tools = new FleetCatalog(
    { catalog, fleet: fleet.store, redis: fleet.redis, subscriber: fleet.subscriber, prefix: config.REDIS_PREFIX },
    { leaseS: config.FLEET_LEASE_S, intervalMs: config.WORKER_TOOLS_CHECK_S * 1000, onError: log.error },
  );
  const dispatcher = new FleetDispatcher({ queue, catalog, tools, fleet: fleet.store, bus: fleet.bus, records, onError: log.error }, { stopWaitMs: (config.STOP_GRACE_S + 5) * 1000 + heartbeatMs, pollMs: Math.min(heartbeatMs, 1000) });
  const fleetApi = new FleetApi(node.id, { queue, fleet: fleet.store, catalog, tools }, { leaseS: config.FLEET_LEASE_S });
  const member = new FleetMember(fleet.store, node, { leaseS: config.FLEET_LEASE_S, heartbeatMs, held: () => [], onLost: (run) => fleet.bus.publish(run), requeue: dispatcher.enqueue, onError: log.error });
  metrics.watchFleet(() => fleetApi.describe());
  return {
    runs: createRunService({ records, catalog, dispatcher, logs: mirror }, options),
    catalog: tools,
    feed: mirror.feed,
    logs: mirror,
    fleet: fleetApi,
    limits: redisLimits(fleet.redis, config.REDIS_PREFIX),
    describe: `fleet API node ${node.id}: runs go to workers`,
    start: async () => {
      await member.join();
      await tools.start();
    },
    close: async () => {
      tools.close();
      await mirror.close();
      await queue.close();
      await member.leave();
      fleet.close();
    },
  };
}
