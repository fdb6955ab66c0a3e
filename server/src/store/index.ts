import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ApiKeyStore, AuditStore, SettingsStore } from './authStore';
import type { RunStore } from './runStore';
import { SqliteApiKeyStore, SqliteAuditStore, SqliteSettingsStore } from './sqliteAuthStore';
import { openDatabase } from './sqliteDb';
import { SqliteRunStore } from './sqliteRunStore';

export interface Stores {
  runs: RunStore;
  apiKeys: ApiKeyStore;
  audit: AuditStore;
  settings: SettingsStore;
  /** Throws unless the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The embedded stores: one SQLite file, `oss-runner.db`, in LOG_DIR (created if missing). */
export function openStores(logDir: string): Stores {
  mkdirSync(path.join(logDir, 'runs'), { recursive: true, mode: 0o750 });
  const db = openDatabase(path.join(logDir, 'oss-runner.db'));
  return {
    runs: new SqliteRunStore(db),
    apiKeys: new SqliteApiKeyStore(db),
    audit: new SqliteAuditStore(db),
    settings: new SqliteSettingsStore(db),
    ping: () => {
      db.prepare('SELECT 1').get();
      return Promise.resolve();
    },
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}
