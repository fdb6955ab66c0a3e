/** The embedded database: one SQLite file in LOG_DIR, in WAL mode, migrated on open. */
import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { decodeCursor, pageOf } from './cursor';

const MIGRATIONS = [
  `CREATE TABLE runs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     cmd TEXT NOT NULL,
     params TEXT NOT NULL,
     status TEXT NOT NULL,
     exit_code INTEGER,
     signal TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     requested_by TEXT,
     stopped_by TEXT,
     end_reason TEXT,
     error TEXT,
     log_bytes INTEGER NOT NULL DEFAULT 0,
     process TEXT
   );
   CREATE INDEX runs_status ON runs (status, seq);
   CREATE INDEX runs_name ON runs (name, seq);`,
  `CREATE TABLE api_keys (
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
     id INTEGER PRIMARY KEY AUTOINCREMENT,
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
  `ALTER TABLE runs ADD COLUMN outcome TEXT;`,
  `ALTER TABLE runs ADD COLUMN log_truncated INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE idempotency (
     principal TEXT NOT NULL,
     key TEXT NOT NULL,
     run_id TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (principal, key)
   );`,
  `ALTER TABLE runs ADD COLUMN limits TEXT;
   ALTER TABLE runs ADD COLUMN peak_memory_bytes INTEGER;
   ALTER TABLE runs ADD COLUMN cpu_time_ms INTEGER;
   ALTER TABLE runs ADD COLUMN artifacts TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE runs ADD COLUMN archived_at TEXT;
   ALTER TABLE runs ADD COLUMN archive_error TEXT;
   CREATE INDEX runs_finished ON runs (finished_at);
   CREATE INDEX idempotency_run ON idempotency (run_id);`,
  `ALTER TABLE runs ADD COLUMN summary TEXT;`,
  // Repeated refusals are one record with a count; old records are pruned by time.
  `ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
   CREATE INDEX audit_at ON audit (at);`,
  `CREATE TABLE schedules (
     schedule_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     params TEXT NOT NULL,
     cron TEXT NOT NULL,
     timezone TEXT NOT NULL,
     overlap TEXT NOT NULL,
     paused INTEGER NOT NULL DEFAULT 0,
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
     enabled INTEGER NOT NULL,
     filter TEXT NOT NULL,
     secret TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE webhook_deliveries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     endpoint_id TEXT NOT NULL,
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
];

/** Distinct statements kept per database: the SQL is made from column names in code, so there are a few dozen. */
const MAX_STATEMENTS = 256;
const statements = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/**
 * The statement for `sql`, prepared on its first use and reused after: preparing costs more than
 * running most of these statements (in a profile of 200 starts it was the largest single cost).
 * Statements are run with `run`, `get` and `all` only, so one is never busy when it is asked for again.
 */
export function prepared(db: Database.Database, sql: string): Database.Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map<string, Database.Statement>()));
  let statement = byText.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    if (byText.size < MAX_STATEMENTS) byText.set(sql, statement);
  }
  return statement;
}

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  // A database made by hand or by an older server may be readable by others: it holds the secret
  // that signs log tokens. (The server's umask makes new files its own alone.)
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  // Pages freed by deleted rows go back to the file system (retention's compact()); a database made
  // before this setting is rebuilt once to take it.
  if ((db.pragma('auto_vacuum', { simple: true }) as number) !== 2) {
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('VACUUM');
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/**
 * One newest-first page of `table`: rows whose columns equal the given values (undefined values are
 * no filter), after `cursor`, and the cursor of the next page. Column names come from code, never
 * from input; values are bound parameters.
 */
export function selectPage<Row extends Record<string, unknown>>(
  db: Database.Database,
  query: { table: string; seq: string; equals: Record<string, string | undefined>; cursor?: string | undefined; limit: number },
): { rows: Row[]; next_cursor: string | null } {
  const where: string[] = [];
  const args: Record<string, unknown> = { limit: query.limit + 1 };
  for (const [column, value] of Object.entries(query.equals)) {
    if (value === undefined) continue;
    where.push(`${column} = @${column}`);
    args[column] = value;
  }
  if (query.cursor) {
    where.push(`${query.seq} < @before`);
    args.before = decodeCursor(query.cursor);
  }
  const sql = `SELECT * FROM ${query.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${query.seq} DESC LIMIT @limit`;
  return pageOf(prepared(db, sql).all(args) as Row[], query.limit, query.seq);
}
