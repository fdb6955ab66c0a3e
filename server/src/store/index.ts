import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ApiKeyStore, AuditStore, SettingsStore } from './authStore';
import type { RunStore } from './runStore';
import { SqliteApiKeyStore, SqliteAuditStore, SqliteSettingsStore } from './sqliteAuthStore';
import type pg from 'pg';
import type { DatabaseMode } from './pgDb';
import type { ScheduleStore } from './scheduleStore';
import { openDatabase, prepared } from './sqliteDb';
import { SqliteRunStore } from './sqliteRunStore';
import { SqliteScheduleStore } from './sqliteScheduleStore';
import { SqliteWebhookStore } from './sqliteWebhookStore';
import type { WebhookStore } from './webhookStore';

export interface Stores {
  runs: RunStore;
  apiKeys: ApiKeyStore;
  audit: AuditStore;
  settings: SettingsStore;
  schedules: ScheduleStore;
  webhooks: WebhookStore;
  /** The PostgreSQL pool, where fleet nodes keep their leases; absent on SQLite. */
  pool?: pg.Pool;
  /** Throws unless the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The stores: in PostgreSQL with a DATABASE_URL, else embedded in one SQLite file, `oss-runner.db`,
 * in LOG_DIR (created if missing). LOG_DIR keeps the run files either way. PostgreSQL's are imported
 * only then: a server on SQLite never loads `pg`.
 */
export async function openStores(logDir: string, databaseUrl?: string, mode: DatabaseMode = 'single'): Promise<Stores> {
  mkdirSync(path.join(logDir, 'runs'), { recursive: true, mode: 0o750 });
  if (databaseUrl) {
    const { openPgStores } = await import('./pgStores');
    return openPgStores(databaseUrl, mode);
  }
  const db = openDatabase(path.join(logDir, 'oss-runner.db'));
  return {
    runs: new SqliteRunStore(db),
    apiKeys: new SqliteApiKeyStore(db),
    audit: new SqliteAuditStore(db),
    settings: new SqliteSettingsStore(db),
    schedules: new SqliteScheduleStore(db),
    webhooks: new SqliteWebhookStore(db),
    ping: () => {
      prepared(db, 'SELECT 1').get();
      return Promise.resolve();
    },
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}
