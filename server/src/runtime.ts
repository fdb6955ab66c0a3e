/**
 * What a server and a worker both start from: the configuration, the log, the executor with its limits,
 * the catalog, the stores, S3, and how a RunService is set up from them. main.ts and worker.ts compose
 * the rest (a fleet's nodes link to it with fleet/link.ts, which a single server never loads).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Capabilities, Capability } from '../../shared/src/schemas/health';
import type { Run } from '../../shared/src/schemas/run';
import { ConfigError, loadConfig, type Config } from './config';
import { createMetricsServer } from './http/server';
import { DataDirLockError, lockDataDir } from './lib/dataDirLock';
import { createLogger, type Logger } from './log';
import type { Metrics } from './metrics';
import { probeCgroups } from './process/cgroups';
import { createExecutor, type ProcessExecutor, type ToolUser } from './process/executor';
import type { S3Archive } from './services/archive';
import { Catalog, CatalogError, loadCatalogFile } from './services/catalog';
import { unreachableAbove } from './services/runDirs';
import type { RunServiceOptions } from './services/runs';
import { openStores, type Stores } from './store';

/** The process's log: pino once the configuration is read, the console before. */
export interface Log {
  logger: Logger | undefined;
  info: (msg: string) => void;
  warn: (msg: string) => void;
  error: (msg: string, e?: unknown) => void;
}

export function createLog(): Log {
  const log: Log = {
    logger: undefined,
    info: (msg) => (log.logger ? log.logger.info(msg) : console.log(msg)),
    warn: (msg) => (log.logger ? log.logger.warn(msg) : console.warn(`warning: ${msg}`)),
    error: (msg, e) => (log.logger ? log.logger.error({ err: e }, msg) : console.error(`error: ${msg}`, e)),
  };
  return log;
}

export interface Runtime {
  config: Config;
  log: Log;
  logger: Logger;
  version: string;
  executor: ProcessExecutor;
  catalog: Catalog;
  stores: Stores;
  archive: S3Archive | null;
  /** LOG_DIR's real path (it may be reached through a symbolic link): the sandbox mounts onto it. */
  logDir: string;
}

/** Says which of the default limits this machine cannot enforce (tools that require one are refused). */
function warnUnenforced(config: Config, capabilities: Capabilities, log: Log): void {
  const defaults: [string, number | boolean, Capability][] = [
    ['RUN_MEMORY_BYTES', config.RUN_MEMORY_BYTES, 'memory'],
    ['RUN_PIDS', config.RUN_PIDS, 'pids'],
    ['RUN_CPU_S', config.RUN_CPU_S, 'cpu_time'],
    ['RUN_FILE_BYTES', config.RUN_FILE_BYTES, 'file_size'],
    ['RUN_DISK_BYTES', config.RUN_DISK_BYTES, 'disk'],
    ['RUN_NETWORK=false', !config.RUN_NETWORK, 'network_off'],
    ['the sandbox', true, 'sandbox'],
    ['running tools as an unprivileged user', true, 'unprivileged'],
    ['no_new_privs', true, 'no_new_privs'],
    ['read-only kernel settings', true, 'kernel_read_only'],
    ['keeping tools from the server', true, 'server_protected'],
  ];
  for (const [name, value, capability] of defaults) {
    const can = capabilities[capability];
    if (value && !can.enforced) log.warn(`${name} is not enforced here: ${can.reason}`);
  }
}

/** Says when tools run as RUN_AS_USER could not reach their run directories in LOG_DIR (a LOG_DIR under /root, say). */
function warnUnreachable(logDir: string, runAs: ToolUser | null, log: Log): void {
  const blocked = runAs && unreachableAbove(logDir, runAs);
  if (runAs && blocked) log.warn(`tools run as uid ${runAs.uid} (RUN_AS_USER) cannot reach their directories in LOG_DIR: they may not pass through ${blocked}; let them (chmod o+x) or move LOG_DIR`);
}

/**
 * LOG_DIR is this process's alone among its kind: `server.lock` for `npm start` (two servers would
 * share a database or the API nodes' log copies), `worker.lock` for whoever runs tools (two would share
 * run directories and caches, and each would end the other's runs as its own leftovers). A single
 * server takes both; an API node and a worker may share a LOG_DIR.
 */
function lockLogDir(config: Config, role: 'server' | 'worker', log: Log): void {
  const locks: [string, string][] = role === 'worker' ? [['worker', 'a worker']] : config.REDIS_URL ? [['server', 'an API node']] : [['server', 'a single server'], ['worker', 'a single server']];
  for (const [name, holder] of locks) {
    const { tookOverFrom } = lockDataDir(config.LOG_DIR, name, holder);
    if (tookOverFrom) log.warn(`LOG_DIR ${config.LOG_DIR}: took over the ${name} lock of ${tookOverFrom}, which is no longer running`);
  }
}

/** `server`: `npm start` (a single server, or a fleet's API node with REDIS_URL); `worker`: `npm run worker`. */
export async function openRuntime(log: Log, role: 'server' | 'worker'): Promise<Runtime> {
  // Everything this process creates (the database, logs, run directories) is its own alone,
  // whatever the umask it was started with: the database holds the secret that signs log tokens.
  process.umask(0o077);
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, bufferBytes: config.LOG_BUFFER_BYTES });
  log.logger = logger;
  const version = (JSON.parse(readFileSync(path.join(config.PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const entries = loadCatalogFile(config.CATALOG_FILE);
  lockLogDir(config, role, log);
  // Runs' cgroups are grouped by data directory: servers of other LOG_DIRs on this machine never sweep them.
  const cgroupScope = createHash('sha256').update(config.LOG_DIR).digest('hex').slice(0, 16);
  // What this machine cannot enforce matters where tools run: not on a fleet's API nodes.
  const runsTools = role === 'worker' || !config.REDIS_URL;
  const { executor, fallbackReason } = createExecutor({ preference: config.PROCESS_ISOLATION, probeCgroups: () => probeCgroups(cgroupScope), runAs: config.RUN_AS_USER, startHelper: runsTools, log });
  const catalog = new Catalog(entries, config.TOOL_ENV.PATH ?? '', executor.capabilities);
  if (runsTools) {
    if (fallbackReason) log.warn(`runs are contained by process groups, which a process that calls setsid can escape: ${fallbackReason}`);
    warnUnenforced(config, executor.capabilities, log);
    for (const tool of catalog.list()) if (tool.unavailable_reason?.startsWith('it requires')) log.warn(`tool "${tool.name}" is refused here: ${tool.unavailable_reason}`);
  }
  const stores = await openStores(config.LOG_DIR, config.DATABASE_URL, config.REDIS_URL ? 'fleet' : 'single');
  if (runsTools) warnUnreachable(realpathSync(config.LOG_DIR), executor.runAs, log);
  const logDirMode = statSync(config.LOG_DIR).mode & 0o777;
  if (logDirMode & 0o007) log.warn(`LOG_DIR ${config.LOG_DIR} is open to other users of this machine (mode ${logDirMode.toString(8)}): chmod 700 it (what the server creates in it is its own alone either way)`);

  // The AWS SDK is loaded only when S3 is configured: tens of MB of memory otherwise spent for nothing.
  const archive = config.S3_BUCKET
    ? new (await import('./services/archive')).S3Archive({
        bucket: config.S3_BUCKET,
        endpoint: config.S3_ENDPOINT,
        region: config.S3_REGION,
        accessKeyId: config.S3_ACCESS_KEY_ID,
        secretAccessKey: config.S3_SECRET_ACCESS_KEY,
        forcePathStyle: config.S3_FORCE_PATH_STYLE,
        prefix: config.S3_PREFIX,
        presignTtlS: config.S3_PRESIGN_TTL_S,
      })
    : null;
  return { config, log, logger, version, executor, catalog, stores, archive, logDir: realpathSync(config.LOG_DIR) };
}

/** How a RunService is set up from the configuration, the same on a server and on a worker. */
export function runServiceOptions(rt: Runtime, metrics: Metrics): RunServiceOptions {
  const { config, logDir, log } = rt;
  return {
    logDir,
    toolEnv: config.TOOL_ENV,
    envOf: config.envOf,
    defaultTimeoutS: config.RUN_TIMEOUT_S,
    stopGraceMs: config.STOP_GRACE_S * 1000,
    maxConcurrentRuns: config.MAX_CONCURRENT_RUNS,
    startsPerTurn: config.STARTS_PER_TURN,
    maxLogBytes: config.MAX_LOG_BYTES,
    logTimes: { resolutionMs: config.LOG_TIMES_RESOLUTION_MS, maxEntries: config.LOG_TIMES_MAX_ENTRIES },
    defaults: { memoryBytes: config.RUN_MEMORY_BYTES, pids: config.RUN_PIDS, cpuS: config.RUN_CPU_S, fileBytes: config.RUN_FILE_BYTES, diskBytes: config.RUN_DISK_BYTES, network: config.RUN_NETWORK },
    readable: [realpathSync(config.PROJECT_ROOT)],
    hiddenDirs: [logDir],
    hiddenFiles: [path.join(process.cwd(), '.env')],
    archive: rt.archive,
    onError: log.error,
    onStarted: (run) => log.logger?.info({ event: 'run.started', run_id: run.run_id, tool: run.name, requested_by: run.requested_by }, 'run started'),
    onEnded: (run: Run) => {
      metrics.runEnded(run);
      const durationMs = run.started_at && run.finished_at ? Date.parse(run.finished_at) - Date.parse(run.started_at) : null;
      log.logger?.info({ event: 'run.ended', run_id: run.run_id, tool: run.name, status: run.status, end_reason: run.end_reason, exit_code: run.exit_code, duration_ms: durationMs, stopped_by: run.stopped_by }, 'run ended');
    },
  };
}

/** /metrics on METRICS_PORT (no credential there), when it is set; null otherwise. */
export async function serveMetrics(rt: Runtime, metrics: Metrics): Promise<Server | null> {
  const { config, log } = rt;
  if (config.METRICS_PORT === undefined) return null;
  const server = createMetricsServer(metrics, (e) => log.error('metrics failed', e));
  server.listen(config.METRICS_PORT, config.METRICS_HOST);
  await once(server, 'listening');
  log.info(`metrics on http://${config.METRICS_HOST}:${(server.address() as AddressInfo).port}/metrics (no credential needed there)`);
  return server;
}

/**
 * SIGTERM and SIGINT run `shutdown` once (after saying what it does), then the process exits 0; a
 * second signal exits at once, with 1.
 */
export function onStopSignals(log: Log, what: string, shutdown: () => Promise<void>): void {
  let stopping = false;
  const handle = (sig: string) => {
    if (stopping) {
      log.warn(`${sig} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${sig}: ${what}`);
    shutdown().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error('shutting down failed', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}

/** Exits on a start-up failure: a configuration or catalog mistake as its message alone, anything else logged. */
export function failedToStart(log: Log): (e: unknown) => never {
  return (e) => {
    if (e instanceof ConfigError || e instanceof CatalogError || e instanceof DataDirLockError) console.error(e.message);
    else log.error('could not start', e);
    process.exit(1);
  };
}
