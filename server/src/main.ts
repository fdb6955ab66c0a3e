/**
 * Composition root: config -> stores -> services -> HTTP/tRPC/WebSocket -> shutdown.
 */
import type { AddressInfo } from 'node:net';
import { clientIpResolver } from './http/clientIp';
import { createHttpApp } from './http/server';
import { Metrics } from './metrics';
import { createLog, failedToStart, onStopSignals, openRuntime, runServiceOptions, serveMetrics, type Runtime } from './runtime';
import { singleServer, type ServerMode } from './serverMode';
import type { Services } from './services';
import { AuditLog } from './services/audit';
import { ApiKeyService } from './services/auth/apiKeys';
import { Authenticator } from './services/auth/authenticator';
import { JwtVerifier } from './services/auth/jwt';
import { LogTokenService } from './services/auth/logTokens';
import { LogStreamer } from './services/logStream';
import { checkReadiness, sharedProbe } from './services/readiness';
import { Retention } from './services/retention';
import { ScheduleService } from './services/schedules/scheduleService';
import { Scheduler } from './services/schedules/scheduler';
import type { RunServiceOptions } from './services/runs';
import { createWebhooks } from './services/webhooks';

const log = createLog();

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

/**
 * A single server, or with REDIS_URL a fleet's API node: chosen here, once. The fleet's wiring (BullMQ,
 * ioredis) is imported only then, so a single server never loads it.
 */
async function serverMode(rt: Runtime, options: RunServiceOptions, metrics: Metrics): Promise<ServerMode> {
  const redisUrl = rt.config.REDIS_URL;
  if (!redisUrl) return singleServer(rt, options);
  const { fleetApiNode } = await import('./fleet/apiNode');
  return fleetApiNode({ rt, redisUrl, options, metrics });
}

async function main(): Promise<void> {
  const rt = await openRuntime(log, 'server');
  const { config, version, executor, stores, archive } = rt;
  const metrics = new Metrics({ running: () => runs.runningCount, queued: () => runs.queuedCount });
  const readiness = sharedProbe(() => checkReadiness({ logDir: config.LOG_DIR, minFreeBytes: config.READY_MIN_FREE_BYTES, pingDatabase: () => stores.ping() }));
  // While /ready fails, starts are answered 503 with Retry-After: the run could not be kept (a full disk) or recorded.
  const mode = await serverMode(rt, { ...runServiceOptions(rt, metrics), readiness }, metrics);
  const { runs } = mode;
  await mode.start();
  const retention = new Retention({ store: stores.runs, runs, onError: log.error }, { maxAgeDays: config.RETENTION_DAYS, keepPerTool: config.RETENTION_KEEP_PER_TOOL, intervalMs: config.RETENTION_INTERVAL_S * 1000 });
  retention.start();
  const schedules = new ScheduleService({ store: stores.schedules, runs }, { manageRole: config.SCHEDULES_ROLE, maxSchedules: config.SCHEDULES_MAX });
  const scheduler = new Scheduler({ store: stores.schedules, runs, cronOf: (s) => schedules.cronOf(s), log }, { graceMs: config.SCHEDULE_GRACE_S * 1000, tickMs: config.SCHEDULE_TICK_MS });

  const audit = new AuditLog(stores.audit, (e) => log.error('could not write the audit log', e), {
    retentionDays: config.AUDIT_RETENTION_DAYS,
    maxRows: config.AUDIT_MAX_ROWS,
    coalesceMs: config.AUDIT_COALESCE_S * 1000,
    pruneIntervalMs: config.RETENTION_INTERVAL_S * 1000,
  });
  // Cached for half AUTH_RECHECK_S, re-checked as often: a revocation takes effect within AUTH_RECHECK_S.
  const apiKeys = new ApiKeyService(stores.apiKeys, { cacheMs: config.AUTH_RECHECK_S * 500 });
  const jwt = new JwtVerifier({
    secret: config.AUTH_JWT_SECRET,
    jwksUrl: config.AUTH_JWKS_URL,
    issuer: config.AUTH_JWT_ISSUER,
    audience: config.AUTH_JWT_AUDIENCE,
    clockToleranceS: config.AUTH_JWT_CLOCK_TOLERANCE_S,
    jwksCooldownS: config.AUTH_JWKS_COOLDOWN_S,
  });
  const auth = new Authenticator({ apiKeys, jwt, audit }, {
    disabled: config.AUTH_DISABLED,
    adminApiKey: config.ADMIN_API_KEY,
    authFailuresPerMinute: config.AUTH_FAILURES_PER_MINUTE,
    authFailuresWindowS: config.AUTH_FAILURES_WINDOW_S,
    startsPerMinute: config.START_RATE_PER_MINUTE,
    recheckMs: config.AUTH_RECHECK_S * 1000,
    onFailure: () => metrics.authFailed(),
    limits: mode.limits,
  });
  if (config.AUTH_DISABLED) log.warn('AUTH_DISABLED=true: anyone who can reach this server can run and stop tools and read every log. Use it for local experiments only.');

  const stopStreams = new AbortController();
  const webhooks = createWebhooks(config, { store: stores.webhooks, version, onError: log.error });
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
    readiness,
    catalog: mode.catalog,
    runs,
    logs: new LogStreamer({ feed: mode.feed, state: (id) => mode.logs.logState(id), logPath: (id) => mode.logs.logPath(id), observer: metrics }),
    auth,
    apiKeys,
    logTokens: new LogTokenService(stores.settings, config.LOG_TOKEN_TTL_S),
    audit,
    fleet: mode.fleet,
    schedules,
    webhooks: webhooks.service,
  };
  const app = createHttpApp(config, services, rt.logger);
  const metricsServer = await serveMetrics(rt, metrics);
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
  // After recovery (runs its last life left are settled) and once the server answers: what came due while it was down fires now.
  scheduler.start();
  webhooks.start(url, runs.changes(stopStreams.signal), async () => (await runs.list({ limit: 200 })).items);
  log.info(`${config.APP_NAME} ${version} listening on ${url} (catalog: ${config.CATALOG_FILE}, data: ${config.LOG_DIR}, ${mode.describe})`);

  onStopSignals(log, `starting no new runs, ending live streams, ${config.SHUTDOWN_GRACE_S ? `giving running tools ${config.SHUTDOWN_GRACE_S} s to finish` : 'stopping running tools'}`, async () => {
    await scheduler.stop();
    runs.stopAccepting();
    stopStreams.abort();
    app.sendClientsAway();
    await retention.stop();
    await runs.shutdown(config.SHUTDOWN_GRACE_S * 1000);
    await webhooks.stop();
    executor.close();
    archive?.close();
    await app.close();
    metricsServer?.close();
    await mode.close();
    await audit.close();
    await stores.close();
  });
}

main().catch(failedToStart(log));
