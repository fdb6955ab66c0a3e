/**
 * Composition root: config -> stores -> services -> HTTP/tRPC/WebSocket -> shutdown.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from './config';
import { createHttpApp } from './http/server';
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
import { RunService } from './services/runService';
import { openStores } from './store';

const log = {
  info: (msg: string) => console.log(msg),
  warn: (msg: string) => console.warn(`warning: ${msg}`),
  error: (msg: string, e?: unknown) => console.error(`error: ${msg}`, e instanceof Error ? (e.stack ?? e.message) : (e ?? '')),
};

/** With no way at all to authenticate, the first start creates an admin key and prints it, once. */
async function bootstrapAdminKey(url: string, auth: Authenticator, apiKeys: ApiKeyService): Promise<void> {
  if (auth.configured || (await apiKeys.count()) > 0) return;
  const { key, api_key } = await apiKeys.create('bootstrap admin', 'admin', 'first start');
  log.info(
    [
      'No credential was configured, so an admin API key was created. It is shown this once; only its hash is stored:',
      `  ${key}`,
      `Use it as a header:  curl -H "Authorization: Bearer ${key}" ${url}/runs`,
      `Make keys for people and scripts with it (POST /api-keys), or offline: npm run apikey -- create --name NAME --role operator`,
      `(key id ${api_key.id}; revoke it with DELETE /api-keys/${api_key.id})`,
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const config = loadConfig();
  const version = (JSON.parse(readFileSync(path.join(config.PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const catalog = new Catalog(loadCatalogFile(config.CATALOG_FILE), config.TOOL_ENV.PATH ?? '');
  const stores = openStores(config.LOG_DIR);

  const { executor, fallbackReason } = createExecutor(config.PROCESS_ISOLATION);
  if (fallbackReason) log.warn(`runs are contained by process groups, which a process that calls setsid can escape: ${fallbackReason}`);
  const feed = new LocalLogFeed();
  const runs = new RunService(stores.runs, catalog, executor, feed, new LocalRunFeed(), {
    logDir: config.LOG_DIR,
    toolEnv: config.TOOL_ENV,
    defaultTimeoutS: config.RUN_TIMEOUT_S,
    stopGraceMs: config.STOP_GRACE_S * 1000,
    maxConcurrentRuns: config.MAX_CONCURRENT_RUNS,
    maxLogBytes: config.MAX_LOG_BYTES,
  });
  const recovered = await runs.recover();
  if (recovered.lost) log.warn(`${recovered.lost} run(s) were going when the server last stopped: marked lost`);

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
  });
  if (config.AUTH_DISABLED) log.warn('AUTH_DISABLED=true: anyone who can reach this server can run and stop tools and read every log. Use it for local experiments only.');

  const services: Services = {
    appName: config.APP_NAME,
    version,
    startedAt: Date.now(),
    isolation: executor.isolation,
    catalog,
    runs,
    logs: new LogStreamer(feed, (id) => runs.logState(id), (id) => runs.logPath(id)),
    auth,
    apiKeys,
    logTokens: new LogTokenService(stores.settings, config.LOG_TOKEN_TTL_S),
    audit,
  };
  const app = createHttpApp(config, services, log);
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
    log.info(`${sig}: stopping runs and closing`);
    void (async () => {
      await runs.shutdown();
      await app.close();
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
