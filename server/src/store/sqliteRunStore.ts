/** The embedded run store: one SQLite file in LOG_DIR, in WAL mode. */
import Database from 'better-sqlite3';
import type { RunCounts } from '../../../shared/src/schemas/health';
import { Run, RunStatus, type RunList } from '../../../shared/src/schemas/run';
import { InvalidCursorError, type ProcessHandle, type RunFilter, type RunPatch, type RunStore } from './runStore';

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
];

type Row = Record<string, unknown> & { seq: number; cmd: string; params: string; process: string | null };

const JSON_COLUMNS = new Set(['cmd', 'params']);
const PATCHABLE = new Set(Object.keys(Run.shape));

function toRun(row: Row): Run {
  const { seq: _seq, process: _process, cmd, params, ...rest } = row;
  return { ...rest, cmd: JSON.parse(cmd) as string[], params: JSON.parse(params) as Record<string, unknown> } as Run;
}

const encodeCursor = (seq: number) => Buffer.from(`s${seq}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const m = /^s(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m?.[1]) throw new InvalidCursorError('cursor is not one this server gave out');
  return Number(m[1]);
}

export class SqliteRunStore implements RunStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  private migrate() {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? '');
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  insert(run: Run): Promise<void> {
    const row: Record<string, unknown> = { ...run, cmd: JSON.stringify(run.cmd), params: JSON.stringify(run.params) };
    const cols = Object.keys(row);
    this.db.prepare(`INSERT INTO runs (${cols.join(',')}) VALUES (${cols.map((c) => `@${c}`).join(',')})`).run(row);
    return Promise.resolve();
  }

  update(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const entries = Object.entries(patch).filter(([k, v]) => PATCHABLE.has(k) && v !== undefined);
    if (entries.length) {
      const sets = entries.map(([k]) => `${k} = @${k}`).join(', ');
      const values = Object.fromEntries(entries.map(([k, v]) => [k, JSON_COLUMNS.has(k) ? JSON.stringify(v) : v]));
      this.db.prepare(`UPDATE runs SET ${sets} WHERE run_id = @run_id`).run({ ...values, run_id: runId });
    }
    return this.get(runId);
  }

  get(runId: string): Promise<Run | undefined> {
    const row = this.db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as Row | undefined;
    return Promise.resolve(row && toRun(row));
  }

  list(filter: RunFilter): Promise<RunList> {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: filter.limit + 1 };
    if (filter.status) {
      where.push('status = @status');
      args.status = filter.status;
    }
    if (filter.name) {
      where.push('name = @name');
      args.name = filter.name;
    }
    if (filter.cursor) {
      where.push('seq < @before');
      args.before = decodeCursor(filter.cursor);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
    const rows = this.db.prepare(sql).all(args) as Row[];
    const more = rows.length > filter.limit;
    const page = more ? rows.slice(0, filter.limit) : rows;
    const last = page[page.length - 1];
    return Promise.resolve({ items: page.map(toRun), next_cursor: more && last ? encodeCursor(last.seq) : null });
  }

  counts(): Promise<RunCounts> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM runs GROUP BY status').all() as { status: string; n: number }[];
    const counts = Object.fromEntries(RunStatus.options.map((s) => [s, 0])) as Record<RunStatus, number>;
    let total = 0;
    for (const { status, n } of rows) {
      total += n;
      if (status in counts) counts[status as RunStatus] = n;
    }
    return Promise.resolve({ total, ...counts });
  }

  unfinished(): Promise<{ run: Run; process: ProcessHandle | null }[]> {
    const rows = this.db.prepare("SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY seq").all() as Row[];
    return Promise.resolve(rows.map((row) => ({ run: toRun(row), process: row.process ? (JSON.parse(row.process) as ProcessHandle) : null })));
  }

  setProcess(runId: string, handle: ProcessHandle | null): Promise<void> {
    this.db.prepare('UPDATE runs SET process = ? WHERE run_id = ?').run(handle && JSON.stringify(handle), runId);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
