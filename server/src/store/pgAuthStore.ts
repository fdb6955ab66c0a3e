/** API keys, audit log and settings in PostgreSQL: the same behaviour as the SQLite stores. */
import type pg from 'pg';
import type { ApiKey, AuditList, AuditRecord } from '../../../shared/src/schemas/auth';
import type { ApiKeyRecord, ApiKeyStore, AuditFilter, AuditStore, SettingsStore } from './authStore';
import { selectPagePg, withoutNul } from './pgDb';

const KEY_COLUMNS = 'id, name, role, created_at, created_by, last_used_at, revoked_at';

export class PgApiKeyStore implements ApiKeyStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(key: ApiKeyRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO api_keys (${KEY_COLUMNS}, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      withoutNul([key.id, key.name, key.role, key.created_at, key.created_by, key.last_used_at, key.revoked_at, key.hash]),
    );
  }

  async find(id: string): Promise<ApiKeyRecord | undefined> {
    if (id.includes('\0')) return undefined;
    return (await this.pool.query<ApiKeyRecord>(`SELECT ${KEY_COLUMNS}, hash FROM api_keys WHERE id = $1`, [id])).rows[0];
  }

  async list(): Promise<ApiKey[]> {
    return (await this.pool.query<ApiKey>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`)).rows;
  }

  async revoke(id: string, at: string): Promise<boolean> {
    if (id.includes('\0')) return false;
    return ((await this.pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) > 0;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.pool.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  async count(): Promise<number> {
    return (await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM api_keys')).rows[0]?.n ?? 0;
  }
}

export class PgAuditStore implements AuditStore {
  constructor(private readonly pool: pg.Pool) {}

  async append(record: Omit<AuditRecord, 'id'>): Promise<void> {
    await this.pool.query(
      'INSERT INTO audit (at, actor, ip, action, run_id, outcome, detail, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      withoutNul([record.at, record.actor, record.ip, record.action, record.run_id, record.outcome, record.detail, record.count]),
    );
  }

  async prune(before: string | null, keep: number | null): Promise<number> {
    let deleted = 0;
    if (before !== null) deleted += (await this.pool.query('DELETE FROM audit WHERE at < $1', [before])).rowCount ?? 0;
    if (keep !== null) deleted += (await this.pool.query('DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - $1', [keep])).rowCount ?? 0;
    return deleted;
  }

  async list(filter: AuditFilter): Promise<AuditList> {
    const { rows, next_cursor } = await selectPagePg<AuditRecord>(this.pool, { table: 'audit', seq: 'id', equals: { action: filter.action, outcome: filter.outcome }, cursor: filter.cursor, limit: filter.limit });
    return { items: rows, next_cursor };
  }
}

export class PgSettingsStore implements SettingsStore {
  constructor(private readonly pool: pg.Pool) {}

  async getOrInit(name: string, init: () => string): Promise<string> {
    await this.pool.query('INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, init()]);
    return (await this.pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name])).rows[0]?.value ?? '';
  }
}
