/**
 * PostgreSQL (DATABASE_URL): the same tables as the embedded SQLite database, migrated on start under
 * an advisory lock so that several servers starting at once migrate once. Timestamps stay ISO 8601
 * text, as in SQLite and in the API; JSON fields are jsonb.
 */
import pg from 'pg';
import { decodeCursor, pageOf } from './cursor';

const MIGRATIONS = [
  `CREATE TABLE runs (
     seq BIGSERIAL PRIMARY KEY,
     run_id TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     cmd JSONB NOT NULL,
     params JSONB NOT NULL,
     status TEXT NOT NULL,
     exit_code INTEGER,
     signal TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     requested_by TEXT,
     stopped_by TEXT,
     end_reason TEXT,
     outcome TEXT,
     error TEXT,
     log_bytes BIGINT NOT NULL DEFAULT 0,
     log_truncated BOOLEAN NOT NULL DEFAULT false,
     limits JSONB,
     peak_memory_bytes BIGINT,
     cpu_time_ms BIGINT,
     artifacts JSONB NOT NULL DEFAULT '[]',
     summary JSONB,
     archived_at TEXT,
     archive_error TEXT,
     process JSONB
   );
   CREATE INDEX runs_status ON runs (status, seq);
   CREATE INDEX runs_name ON runs (name, seq);
   CREATE INDEX runs_finished ON runs (finished_at);
   CREATE TABLE idempotency (
     principal TEXT NOT NULL,
     key TEXT NOT NULL,
     run_id TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (principal, key)
   );
   CREATE INDEX idempotency_run ON idempotency (run_id);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     role TEXT NOT NULL,
     hash TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT,
     last_used_at TEXT,
     revoked_at TEXT
   );
   CREATE TABLE audit (
     id BIGSERIAL PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT,
     ip TEXT,
     action TEXT NOT NULL,
     run_id TEXT,
     outcome TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX audit_action ON audit (action, id);
   CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  `CREATE INDEX idempotency_created ON idempotency (created_at);`,
  // A fleet (REDIS_URL): the node that claimed a run, and every node's lease.
  `ALTER TABLE runs ADD COLUMN owner TEXT;
   CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;
   CREATE TABLE nodes (
     id TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     host TEXT NOT NULL,
     pid INTEGER NOT NULL,
     tags JSONB NOT NULL DEFAULT '[]',
     concurrency INTEGER NOT NULL DEFAULT 0,
     running JSONB NOT NULL DEFAULT '[]',
     started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
   );`,
  // Repeated refusals are one record with a count; old records are pruned by time.
  `ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
   CREATE INDEX audit_at ON audit (at);`,
  `CREATE TABLE schedules (
     schedule_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     params JSONB NOT NULL,
     cron TEXT NOT NULL,
     timezone TEXT NOT NULL,
     overlap TEXT NOT NULL,
     paused BOOLEAN NOT NULL DEFAULT false,
     created_at TEXT NOT NULL,
     created_by TEXT,
     updated_at TEXT NOT NULL,
     next_fire_at TEXT,
     pending_at TEXT,
     last_fired_at TEXT,
     last_result TEXT,
     last_run_id TEXT,
     last_error TEXT
   );
   CREATE INDEX schedules_next ON schedules (next_fire_at);`,
  // Webhook endpoints and their deliveries (services/webhooks).
  `CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     description TEXT NOT NULL,
     format TEXT NOT NULL,
     enabled BOOLEAN NOT NULL,
     filter JSONB NOT NULL,
     secret TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE webhook_deliveries (
     seq BIGSERIAL PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     endpoint_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
     event TEXT NOT NULL,
     run_id TEXT NOT NULL,
     payload TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     response_status INTEGER,
     error TEXT,
     created_at TEXT NOT NULL,
     last_attempt_at TEXT,
     next_attempt_at TEXT,
     delivered_at TEXT,
     redelivery_of TEXT
   );
   CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (endpoint_id, run_id, event) WHERE redelivery_of IS NULL;
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
   CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);`,
  // A fleet holds a tool's concurrency and cache across its workers: counted among the runs that hold them.
  // Stops asked for runs a worker holds, kept until the run ends: a worker that missed the message reads them.
  `CREATE INDEX runs_held ON runs (name) WHERE owner IS NOT NULL AND (status IN ('queued', 'running') OR process IS NOT NULL);
   CREATE TABLE stop_requests (
     run_id TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
     stopped_by TEXT,
     asked_at TIMESTAMPTZ NOT NULL DEFAULT now()
   );`,
];

/** Lock keys (with the schema's hash as the second half): taken while migrating, and held while a server runs. */
const MIGRATION_LOCK = 0x055_2ee;
const SERVER_LOCK = 0x055_2ef;

// 64-bit integers (sequence numbers, byte counts, COUNT(*)) as numbers: they stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);

/**
 * `single`: one server owns the database (its start-up recovery takes every unfinished run as its own).
 * `fleet`: API nodes and workers share it, each run held by the node that claimed it. The two never mix.
 */
export type DatabaseMode = 'single' | 'fleet';

/**
 * How long PostgreSQL keeps a session of ours that sits in a transaction with nothing to do before it
 * ends it, rolling the transaction back. Our transactions send their statements one after another;
 * one left idle means its node is gone without the database being told (its host lost power or its
 * network), and until the session ends its locks stay held: a tool's claim lock would stop every run
 * of that tool across the fleet for as long as TCP takes to notice (hours).
 */
export const IDLE_IN_TRANSACTION_MS = 10_000;

export async function openPool(url: string, mode: DatabaseMode = 'single'): Promise<{ pool: pg.Pool; close: () => Promise<void> }> {
  // A database that does not answer fails a request within seconds (503) rather than holding it.
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, query_timeout: 30_000, keepAlive: true, idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS });
  // An idle connection that breaks (the database restarts) must not crash the server: the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await transaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_version');
      const version = rows[0]?.version ?? 0;
      if (version > MIGRATIONS.length) throw new Error(`the database schema (version ${version}) is newer than this server's (${MIGRATIONS.length}): upgrade the server`);
      for (let v = version; v < MIGRATIONS.length; v++) await client.query(MIGRATIONS[v] ?? '');
      if (rows.length === 0) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [MIGRATIONS.length]);
      else await client.query('UPDATE schema_version SET version = $1', [MIGRATIONS.length]);
    });
    // A single server holds the lock alone; fleet nodes share it. Held by a connection of its own for the
    // process's lifetime.
    const owner = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, keepAlive: true });
    owner.on('error', () => undefined);
    await owner.connect();
    const lock = mode === 'single' ? 'pg_try_advisory_lock' : 'pg_try_advisory_lock_shared';
    const { rows } = await owner.query<{ locked: boolean }>(`SELECT ${lock}($1, hashtext(current_schema())) AS locked`, [SERVER_LOCK]);
    if (!rows[0]?.locked) {
      await owner.end();
      throw new Error(
        mode === 'single'
          ? 'another OSS Runner server, or a fleet of API nodes and workers (REDIS_URL), is using this database: one single server per database'
          : 'a single OSS Runner server (without REDIS_URL) is using this database: stop it before starting fleet nodes on it',
      );
    }
    return { pool, close: async () => ((await owner.end().catch(() => undefined), await pool.end())) };
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}

/** PostgreSQL's text and jsonb cannot hold NUL: it becomes U+FFFD, as undecodable bytes do in logs. */
export function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\0', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map((v: unknown) => withoutNul(v)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)])) as T;
  return value;
}

/** Runs `work` in one transaction on one connection. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // While checked out a client has no pool listener: a connection that breaks mid-transaction would
  // otherwise raise an 'error' nobody handles (and end the process).
  const ignore = () => undefined;
  client.on('error', ignore);
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    failure = e as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.removeListener('error', ignore);
    client.release(failure); // a broken connection is dropped, not reused
  }
}

/** The PostgreSQL twin of sqliteDb's selectPage: newest first, filtered by equal columns, after `cursor`. */
export async function selectPagePg<Row extends Record<string, unknown>>(
  pool: pg.Pool,
  query: { table: string; seq: string; equals: Record<string, string | undefined>; cursor?: string | undefined; limit: number },
): Promise<{ rows: Row[]; next_cursor: string | null }> {
  const where: string[] = [];
  const args: unknown[] = [];
  for (const [column, value] of Object.entries(query.equals)) {
    if (value === undefined) continue;
    args.push(withoutNul(value));
    where.push(`${column} = $${args.length}`);
  }
  if (query.cursor) {
    args.push(decodeCursor(query.cursor));
    where.push(`${query.seq} < $${args.length}`);
  }
  args.push(query.limit + 1);
  const sql = `SELECT * FROM ${query.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${query.seq} DESC LIMIT $${args.length}`;
  return pageOf((await pool.query<Row>(sql, args)).rows, query.limit, query.seq);
}
