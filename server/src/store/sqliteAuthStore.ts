/** API keys, audit log and settings in the embedded SQLite database. */
import type Database from 'better-sqlite3';
import type { ApiKey, AuditList, AuditRecord } from '../../../shared/src/schemas/auth';
import type { ApiKeyRecord, ApiKeyStore, AuditFilter, AuditStore, SettingsStore } from './authStore';
import { prepared, selectPage } from './sqliteDb';

const KEY_COLUMNS = 'id, name, role, created_at, created_by, last_used_at, revoked_at';

export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Database.Database) {}

  insert(key: ApiKeyRecord): Promise<void> {
    prepared(this.db, `INSERT INTO api_keys (${KEY_COLUMNS}, hash) VALUES (@id, @name, @role, @created_at, @created_by, @last_used_at, @revoked_at, @hash)`)
      .run(key);
    return Promise.resolve();
  }

  find(id: string): Promise<ApiKeyRecord | undefined> {
    return Promise.resolve(prepared(this.db, `SELECT ${KEY_COLUMNS}, hash FROM api_keys WHERE id = ?`).get(id) as ApiKeyRecord | undefined);
  }

  list(): Promise<ApiKey[]> {
    return Promise.resolve(prepared(this.db, `SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`).all() as ApiKey[]);
  }

  revoke(id: string, at: string): Promise<boolean> {
    return Promise.resolve(prepared(this.db, 'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0);
  }

  touch(id: string, at: string): Promise<void> {
    prepared(this.db, 'UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(at, id);
    return Promise.resolve();
  }

  count(): Promise<number> {
    return Promise.resolve((prepared(this.db, 'SELECT COUNT(*) AS n FROM api_keys').get() as { n: number }).n);
  }
}

export class SqliteAuditStore implements AuditStore {
  constructor(private readonly db: Database.Database) {}

  append(record: Omit<AuditRecord, 'id'>): Promise<void> {
    prepared(this.db, 'INSERT INTO audit (at, actor, ip, action, run_id, outcome, detail, count) VALUES (@at, @actor, @ip, @action, @run_id, @outcome, @detail, @count)').run(record);
    return Promise.resolve();
  }

  prune(before: string | null, keep: number | null): Promise<number> {
    let deleted = 0;
    if (before !== null) deleted += prepared(this.db, 'DELETE FROM audit WHERE at < ?').run(before).changes;
    if (keep !== null) deleted += prepared(this.db, 'DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?').run(keep).changes;
    return Promise.resolve(deleted);
  }

  list(filter: AuditFilter): Promise<AuditList> {
    const { rows, next_cursor } = selectPage<AuditRecord>(this.db, { table: 'audit', seq: 'id', equals: { action: filter.action, outcome: filter.outcome }, cursor: filter.cursor, limit: filter.limit });
    return Promise.resolve({ items: rows, next_cursor });
  }
}

export class SqliteSettingsStore implements SettingsStore {
  constructor(private readonly db: Database.Database) {}

  getOrInit(name: string, init: () => string): Promise<string> {
    prepared(this.db, 'INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)').run(name, init());
    return Promise.resolve((prepared(this.db, 'SELECT value FROM settings WHERE name = ?').get(name) as { value: string }).value);
  }
}
