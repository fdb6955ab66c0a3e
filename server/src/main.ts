/**
 * Composition root: config -> stores -> services -> HTTP/tRPC/WebSocket -> shutdown.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Capabilities, Capability } from '../../shared/src/schemas/health';
import { ConfigError, loadConfig, type Config } from './config';
import { clientIpResolver } from './http/clientIp';
import { createHttpApp, createMetricsServer } from './http/server';
import { createLogger, type Logger } from './log';
import { Metrics } from './metrics';
import { probeCgroups } from './process/cgroups';
import { createExecutor } from './process/executor';
import type { Services } from './services';
import { AuditLog } from './services/audit';
import { ApiKeyService } from './services/auth/apiKeys';
import { Authenticator } from './services/auth/authenticator';
import { JwtVerifier } from './services/auth/jwt';
import { LogTokenService } from './services/auth/logTokens';
import { Catalog, CatalogError, loadCatalogFile } from './services/catalog';
import { LocalLogFeed } from './services/logFeed';
import { LogStreamer } from './services/logStream';
import { LocalRunFeed } from './services/runFeed';
import { checkReadiness } from './services/readiness';
import { Retention } from './services/retention';
import { RunService } from './services/runService';
import { openStores } from './store';

/** The server's log, made once the configuration is read (LOG_LEVEL, LOG_FORMAT). */
let logger: Logger | undefined;
const log = {
  info: (msg: string) => (logger ? logger.info(msg) : console.log(msg)),
  warn: (msg: string) => (logger ? logger.warn(msg) : console.warn(`warning: ${msg}`)),
  error: (msg: string, e?: unknown) => (logger ? logger.error({ err: e }, msg) : console.error(`error: ${msg}`, e)),
};

/** With no way at all to authenticate, the first start creates an admin key and prints it, once. */
async function bootstrapAdminKey(url: string, auth: Authenticator, apiKeys: ApiKeyService): Promise<void> {
  if (auth.configured || (await apiKeys.count()) > 0) return;
  const { key, api_key } = await apiKeys.create('bootstrap admin', 'admin', 'first start');
  // Plain text for the person starting the server, not a log record: the one time a key is shown.
  process.stdout.write(
    [
      'No credential was configured, so an admin API key was created. It is shown this once; only its hash is stored:',
      `  ${key}`,
      `Use it as a header:  curl -H "Authorization: Bearer ${key}" ${url}/runs`,
      `Make keys for people and scripts with it (POST /api-keys), or offline: npm run apikey -- create --name NAME --role operator`,
      `(key id ${api_key.id}; revoke it with DELETE /api-keys/${api_key.id})`,
      '',
    ].join('\n'),
  );
}

/** Says which of the default limits this machine cannot enforce (tools that require one are refused). */
function warnUnenforced(config: Config, capabilities: Capabilities): void {
  const defaults: [string, number | boolean, Capability][] = [
    ['RUN_MEMORY_BYTES', config.RUN_MEMORY_BYTES, 'memory'],
    ['RUN_PIDS', config.RUN_PIDS, 'pids'],
    ['RUN_CPU_S', config.RUN_CPU_S, 'cpu_time'],
    ['RUN_FILE_BYTES', config.RUN_FILE_BYTES, 'file_size'],
    ['RUN_NETWORK=false', !config.RUN_NETWORK, 'network_off'],
    ['the sandbox', true, 'sandbox'],
  ];
  for (const [name, value, capability] of defaults) {
    const can = capabilities[capability];
    if (value && !can.enforced) log.warn(`${name} is not enforced here: ${can.reason}`);
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const version = (JSON.parse(readFileSync(path.join(config.PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const entries = loadCatalogFile(config.CATALOG_FILE);
  // Runs' cgroups are grouped by data directory: servers of other LOG_DIRs on this machine never sweep them.
  const cgroupScope = createHash('sha256').update(config.LOG_DIR).digest('hex').slice(0, 16);
  const { executor, fallbackReason } = createExecutor(config.PROCESS_ISOLATION, () => probeCgroups(cgroupScope));
  if (fallbackReason) log.warn(`runs are contained by process groups, which a process that calls setsid can escape: ${fallbackReason}`);
  warnUnenforced(config, executor.capabilities);
  const catalog = new Catalog(entries, config.TOOL_ENV.PATH ?? '', executor.capabilities);
  for (const tool of catalog.list()) if (tool.unavailable_reason?.startsWith('it requires')) log.warn(`tool "${tool.name}" is refused here: ${tool.unavailable_reason}`);
  const stores = await openStores(config.LOG_DIR, config.DATABASE_URL);

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
  // The real path (LOG_DIR may be reached through a symbolic link): the sandbox mounts onto it.
  const logDir = realpathSync(config.LOG_DIR);
  const feed = new LocalLogFeed();
  const metrics = new Metrics({ running: () => runs.runningCount, queued: () => runs.queuedCount });
  const dotenv = path.join(process.cwd(), '.env');
  const runs = new RunService(stores.runs, catalog, executor, feed, new LocalRunFeed(), {
    logDir,
    toolEnv: config.TOOL_ENV,
    envOf: config.envOf,
    defaultTimeoutS: config.RUN_TIMEOUT_S,
    stopGraceMs: config.STOP_GRACE_S * 1000,
    maxConcurrentRuns: config.MAX_CONCURRENT_RUNS,
    maxLogBytes: config.MAX_LOG_BYTES,
    defaults: { memoryBytes: config.RUN_MEMORY_BYTES, pids: config.RUN_PIDS, cpuS: config.RUN_CPU_S, fileBytes: config.RUN_FILE_BYTES, network: config.RUN_NETWORK },
    readable: [realpathSync(config.PROJECT_ROOT)],
    hiddenDirs: [logDir],
    hiddenFiles: [dotenv],
    archive,
    onError: log.error,
    onStarted: (run) => logger?.info({ event: 'run.started', run_id: run.run_id, tool: run.name, requested_by: run.requested_by }, 'run started'),
    onEnded: (run) => {
      metrics.runEnded(run);
      const durationMs = run.started_at && run.finished_at ? Date.parse(run.finished_at) - Date.parse(run.started_at) : null;
      logger?.info({ event: 'run.ended', run_id: run.run_id, tool: run.name, status: run.status, end_reason: run.end_reason, exit_code: run.exit_code, duration_ms: durationMs, stopped_by: run.stopped_by }, 'run ended');
    },
  });
  const recovered = await runs.recover();
  if (recovered.lost) log.warn(`${recovered.lost} run(s) were going when the server last stopped: marked lost`);
  const retention = new Retention(stores.runs, runs, { maxAgeDays: config.RETENTION_DAYS, keepPerTool: config.RETENTION_KEEP_PER_TOOL, intervalMs: config.RETENTION_INTERVAL_S * 1000 }, log.error);
  retention.start();

  const audit = new AuditLog(stores.audit, (e) => log.error('could not write the audit log', e));
  const apiKeys = new ApiKeyService(stores.apiKeys);
  const jwt = new JwtVerifier({
    secret: config.AUTH_JWT_SECRET,
    jwksUrl: config.AUTH_JWKS_URL,
    issuer: config.AUTH_JWT_ISSUER,
    audience: config.AUTH_JWT_AUDIENCE,
    clockToleranceS: config.AUTH_JWT_CLOCK_TOLERANCE_S,
    jwksCooldownS: config.AUTH_JWKS_COOLDOWN_S,
  });
  const auth = new Authenticator(apiKeys, jwt, audit, {
    disabled: config.AUTH_DISABLED,
    adminApiKey: config.ADMIN_API_KEY,
    authFailuresPerMinute: config.AUTH_FAILURES_PER_MINUTE,
    startsPerMinute: config.START_RATE_PER_MINUTE,
    onFailure: () => metrics.authFailed(),
  });
  if (config.AUTH_DISABLED) log.warn('AUTH_DISABLED=true: anyone who can reach this server can run and stop tools and read every log. Use it for local experiments only.');

  const stopStreams = new AbortController();
  const services: Services = {
    appName: config.APP_NAME,
    version,
    startedAt: Date.now(),
    isolation: executor.isolation,
    capabilities: executor.capabilities,
    logDir: config.LOG_DIR,
    clientIp: clientIpResolver(config.TRUSTED_PROXIES),
    metrics,
    stopping: stopStreams.signal,
    readiness: () => checkReadiness({ logDir: config.LOG_DIR, minFreeBytes: config.READY_MIN_FREE_BYTES, pingDatabase: () => stores.ping() }),
    catalog,
    runs,
    logs: new LogStreamer(feed, (id) => runs.logState(id), (id) => runs.logPath(id), {}, metrics),
    auth,
    apiKeys,
    logTokens: new LogTokenService(stores.settings, config.LOG_TOKEN_TTL_S),
    audit,
  };
  const app = createHttpApp(config, services, logger);
  const metricsServer = config.METRICS_PORT === undefined ? null : createMetricsServer(metrics, (e) => log.error('metrics failed', e));
  if (metricsServer) {
    metricsServer.listen(config.METRICS_PORT, config.METRICS_HOST);
    await once(metricsServer, 'listening');
    const { port: metricsPort } = metricsServer.address() as AddressInfo;
    log.info(`metrics on http://${config.METRICS_HOST}:${metricsPort}/metrics (no credential needed there)`);
  }
  app.server.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    app.server.once('listening', resolve);
    app.server.once('error', reject);
  });
  const { port } = app.server.address() as AddressInfo;
  // Listening on every address: print one a browser on this machine can open.
  const shown = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const host = shown.includes(':') ? `[${shown}]` : shown;
  const url = `http://${host}:${port}`;
  await bootstrapAdminKey(url, auth, apiKeys);
  log.info(`${config.APP_NAME} ${version} listening on ${url} (catalog: ${config.CATALOG_FILE}, data: ${config.LOG_DIR}, isolation: ${executor.isolation})`);

  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) {
      log.warn(`${sig} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${sig}: starting no new runs, ending live streams, ${config.SHUTDOWN_GRACE_S ? `giving running tools ${config.SHUTDOWN_GRACE_S} s to finish` : 'stopping running tools'}`);
    void (async () => {
      runs.stopAccepting();
      stopStreams.abort();
      app.sendClientsAway();
      await retention.stop();
      await runs.shutdown(config.SHUTDOWN_GRACE_S * 1000);
      executor.close();
      archive?.close();
      await app.close();
      metricsServer?.close();
      await stores.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError || e instanceof CatalogError) console.error(e.message);
  else log.error('could not start', e);
  process.exit(1);
});
