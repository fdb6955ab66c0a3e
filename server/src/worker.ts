/**
 * A worker of a fleet (`npm run worker`, REDIS_URL and DATABASE_URL set): takes runs of its tags
 * (WORKER_TAGS) from the queue, MAX_CONCURRENT_RUNS at a time, claims each in PostgreSQL, and runs it
 * with every limit, sandbox and artifact rule of a single server. Its logs go to Redis Streams for the
 * API nodes, its run changes over pub/sub; it holds a lease while it lives. It serves no HTTP but
 * /metrics on METRICS_PORT, when set.
 */
import { ConfigError } from './config';
import { claimLimitsOf } from './fleet/fleetStore';
import { linkFleet } from './fleet/link';
import { LogPublisher } from './fleet/logPublisher';
import { FleetMember, heartbeatMsOf, nodeInfo } from './fleet/member';
import type { StopRequest } from './fleet/runBus';
import { QueueConsumer } from './fleet/runQueue';
import { workerBeat } from './fleet/workerBeat';
import { WorkerFiles } from './fleet/workerFiles';
import { WorkerToolsPublisher } from './fleet/workerTools';
import { Metrics } from './metrics';
import { killLeftover } from './process/executor';
import { createLog, failedToStart, onStopSignals, openRuntime, runServiceOptions, serveMetrics } from './runtime';
import { createLocalRuns } from './services/runs';
import { claimingIntake } from './services/runs/intake';
import { runPaths } from './services/runs/paths';

const log = createLog();

/** How long a clean stop waits for the last log bytes to reach Redis. */
const LOG_FLUSH_MS = 5000;

async function main(): Promise<void> {
  const rt = await openRuntime(log, 'worker');
  const { config, catalog, stores, executor } = rt;
  if (!config.REDIS_URL) throw new ConfigError('a worker needs REDIS_URL (and DATABASE_URL): it takes its runs from the fleet\'s queue');
  const fleet = await linkFleet({ url: config.REDIS_URL, prefix: config.REDIS_PREFIX, stores, log, role: 'worker' });
  const node = nodeInfo('worker', config.WORKER_TAGS, config.MAX_CONCURRENT_RUNS);
  const metrics = new Metrics({ running: () => dispatcher.runningCount, queued: () => dispatcher.queuedCount });
  const publisher: LogPublisher = new LogPublisher({ redis: fleet.redis, prefix: config.REDIS_PREFIX, state: (id) => logs.logState(id), logPath: (id) => logs.logPath(id) }, {
    ttlS: config.LOG_STREAM_TTL_S,
    // While a run goes its stream lives at least as long as the run may, then LOG_STREAM_TTL_S after its end.
    liveTtlS: config.RUN_TIMEOUT_S + config.LOG_STREAM_TTL_S,
    onError: log.error,
  });
  const claimLimits = { limitsOf: claimLimitsOf(catalog), leaseS: config.FLEET_LEASE_S };
  const intake = claimingIntake({ claim: (id) => fleet.store.claim(id, node.id, claimLimits), catalog, logDir: rt.logDir, artifactsDir: runPaths(rt.logDir).artifacts });
  // A run's record changes only while the run is this worker's: a run the fleet judged lost keeps that.
  const store = fleet.store.ownedRuns({
    owner: node.id,
    onRefused: (runId, patch) => log.warn(`run ${runId}: ${patch.status ? `its end (${patch.status})` : Object.keys(patch).join(', ')} left unrecorded: the run is no longer this worker's to change (the fleet judged it lost meanwhile, or another node ended it)`),
  });
  const { runs, dispatcher, logs, records }: ReturnType<typeof createLocalRuns> = createLocalRuns({ store, catalog, executor, feed: publisher, runFeed: fleet.bus, intake }, runServiceOptions(rt, metrics));
  // Held: waiting for a slot, running, or its end not recorded yet (sent again at each heartbeat).
  const held = () => [...new Set([...dispatcher.held, ...records.pending])];
  // A stop asked on any API node reaches every worker by message, and the one holding the run at its heartbeat too.
  const stopping = new Set<string>();
  const stop = ({ run_id, by }: StopRequest) => {
    if (!dispatcher.held.includes(run_id) || stopping.has(run_id)) return;
    stopping.add(run_id);
    runs
      .stop(run_id, by)
      .catch((e: unknown) => log.error(`stopping run ${run_id} failed`, e))
      .finally(() => stopping.delete(run_id));
  };
  const member = new FleetMember(fleet.store, node, {
    leaseS: config.FLEET_LEASE_S,
    heartbeatMs: heartbeatMsOf(config),
    held,
    onLost: (run) => fleet.bus.publish(run),
    // A dead worker of this host may have left processes (where no PID namespace ended them with it).
    endLeftover: killLeftover,
    onHeldLost: (runIds) => {
      const ended = dispatcher.abandon(runIds);
      if (ended.length) log.warn(`the fleet counted ${ended.length} run(s) of this worker lost while it was cut off from the database: ending them (${ended.join(', ')})`);
    },
    onBeat: () => workerBeat({ store: fleet.store, nodeId: node.id, held, stop, resend: () => records.resend(), onLost: (run) => fleet.bus.publish(run) }),
    onError: log.error,
  });
  await member.join();
  // The API nodes list and admit tools by what the workers say they can run: said before taking any run.
  const tools = new WorkerToolsPublisher(
    { redis: fleet.redis, prefix: config.REDIS_PREFIX, node, version: rt.version, catalog, toolPath: config.TOOL_ENV.PATH ?? '', toolsDir: config.TOOLS_DIR },
    { intervalMs: config.WORKER_TOOLS_CHECK_S * 1000, onError: log.error },
  );
  await tools.start();
  fleet.bus.onStop(stop);
  const full = () => dispatcher.held.length >= config.MAX_CONCURRENT_RUNS;
  const consumer: QueueConsumer = new QueueConsumer({
    url: config.REDIS_URL,
    prefix: config.REDIS_PREFIX,
    tags: config.WORKER_TAGS,
    concurrency: config.MAX_CONCURRENT_RUNS,
    waitRetryMs: config.FLEET_WAIT_RETRY_S * 1000,
    leaseMs: config.FLEET_LEASE_S * 1000,
    execute: async ({ run_id, name }) => {
      const over = dispatcher.execute(run_id, name);
      consumer.throttle(full());
      try {
        await over;
      } finally {
        consumer.throttle(full());
      }
    },
    onError: log.error,
  });

  // Retention on the API nodes deletes records; the files this worker keeps of those runs go after them.
  const files =
    config.RETENTION_DAYS > 0 || config.RETENTION_KEEP_PER_TOOL > 0
      ? new WorkerFiles(
          { pool: fleet.pool, logDir: rt.logDir, inUse: (id) => dispatcher.held.includes(id) || runs.uploading.has(id) || publisher.sending(id), remove: (id) => runs.removeLocalFiles(id), onError: log.error },
          { intervalMs: config.RETENTION_INTERVAL_S * 1000 },
        )
      : null;
  files?.start();

  const metricsServer = await serveMetrics(rt, metrics);
  log.info(`${config.APP_NAME} ${rt.version} worker ${node.id} taking runs of tags ${config.WORKER_TAGS.join(', ')}, ${config.MAX_CONCURRENT_RUNS} at a time (isolation: ${executor.isolation})`);

  onStopSignals(log, `taking no new runs, ${config.SHUTDOWN_GRACE_S ? `giving running tools ${config.SHUTDOWN_GRACE_S} s to finish` : 'stopping running tools'}`, async () => {
    await consumer.pause();
    await tools.leave();
    await files?.stop();
    await runs.shutdown(config.SHUTDOWN_GRACE_S * 1000);
    for (const until = Date.now() + LOG_FLUSH_MS; publisher.pending > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    await consumer.close();
    executor.close();
    rt.archive?.close();
    metricsServer?.close();
    await member.leave();
    fleet.close();
    await stores.close();
  });
}

main().catch(failedToStart(log));
