/**
 * Composition root: config -> stores -> services -> HTTP/tRPC/WebSocket -> shutdown.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from './config';
import { createHttpApp } from './http/server';
import { createExecutor } from './process/executor';
import { Catalog, CatalogError, loadCatalogFile } from './services/catalog';
import { LocalLogFeed } from './services/logFeed';
import { LogStreamer } from './services/logStream';
import { RunService } from './services/runService';
import type { Services } from './services';
import { SqliteRunStore } from './store/sqliteRunStore';

const log = {
  info: (msg: string) => console.log(msg),
  warn: (msg: string) => console.warn(`warning: ${msg}`),
  error: (msg: string, e?: unknown) => console.error(`error: ${msg}`, e instanceof Error ? (e.stack ?? e.message) : (e ?? '')),
};

async function main(): Promise<void> {
  const config = loadConfig();
  const version = (JSON.parse(readFileSync(path.join(config.PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const catalog = new Catalog(loadCatalogFile(config.CATALOG_FILE), config.TOOL_ENV.PATH ?? '');

  mkdirSync(path.join(config.LOG_DIR, 'runs'), { recursive: true, mode: 0o750 });
  const store = new SqliteRunStore(path.join(config.LOG_DIR, 'oss-runner.db'));
  const executor = createExecutor(config.PROCESS_ISOLATION);
  if (executor.isolation === 'process-group') {
    log.warn('bubblewrap (bwrap) cannot create a PID namespace here: runs are contained by process groups, which a process that calls setsid can escape. Install bubblewrap (apt-get install bubblewrap).');
  }
  const feed = new LocalLogFeed();
  const runs = new RunService(store, catalog, executor, feed, {
    logDir: config.LOG_DIR,
    toolEnv: config.TOOL_ENV,
    defaultTimeoutS: config.RUN_TIMEOUT_S,
    stopGraceMs: config.STOP_GRACE_S * 1000,
    maxConcurrentRuns: config.MAX_CONCURRENT_RUNS,
  });
  const recovered = await runs.recover();
  if (recovered.lost) log.warn(`${recovered.lost} run(s) were going when the server last stopped: marked lost`);

  const services: Services = {
    appName: config.APP_NAME,
    version,
    startedAt: Date.now(),
    isolation: executor.isolation,
    catalog,
    runs,
    logs: new LogStreamer(feed, (id) => runs.logState(id), (id) => runs.logPath(id)),
  };
  const app = createHttpApp(config, services, log);
  app.server.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => {
    app.server.once('listening', resolve);
    app.server.once('error', reject);
  });
  const { port } = app.server.address() as AddressInfo;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  log.info(`${config.APP_NAME} ${version} listening on http://${host}:${port} (catalog: ${config.CATALOG_FILE}, data: ${config.LOG_DIR}, isolation: ${executor.isolation})`);

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
      await store.close();
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
