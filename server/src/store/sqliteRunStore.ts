/** The embedded run store, in the SQLite database. */
import type Database from 'better-sqlite3';
import type { RunCounts } from '../../../shared/src/schemas/health';
import { Run, type RunList } from '../../../shared/src/schemas/run';
import { countsOf, type IdempotencyClaim, type ProcessHandle, type RunFilter, type RunPatch, type RunStore } from './runStore';
import { prepared, selectPage } from './sqliteDb';

type Row = Record<string, unknown> & { seq: number; cmd: string; params: string; limits: string | null; artifacts: string; summary: string | null; process: string | null };

const JSON_COLUMNS = new Set(['cmd', 'params', 'limits', 'artifacts', 'summary']);
/** SQLite has no booleans: they are stored as 0 and 1. */
const column = (key: string, value: unknown) => (JSON_COLUMNS.has(key) ? JSON.stringify(value) : typeof value === 'boolean' ? Number(value) : value);
/** Columns a patch may set; the presigned links are made when a run is read, never stored. */
const PATCHABLE = new Set(Object.keys(Run.shape).filter((k) => k !== 'log_url'));

function toRun(row: Row): Run {
  const { seq: _seq, process: _process, cmd, params, limits, artifacts, summary, log_truncated, ...rest } = row;
  return {
    ...rest,
    log_truncated: Boolean(log_truncated),
    cmd: JSON.parse(cmd) as string[],
    params: JSON.parse(params) as Record<string, unknown>,
    limits: limits ? (JSON.parse(limits) as Run['limits']) : null,
    artifacts: JSON.parse(artifacts) as Run['artifacts'],
    summary: summary ? (JSON.parse(summary) as Run['summary']) : null,
    log_url: null,
  } as Run;
}


export class SqliteRunStore implements RunStore {
  /** Made once: better-sqlite3 builds four wrapper functions for each transaction it is asked for. */
  private readonly insertRow: (row: Record<string, unknown>, claim: IdempotencyClaim | undefined) => { runId: string; fingerprint: string | null };

  constructor(private readonly db: Database.Database) {
    this.insertRow = db.transaction((row: Record<string, unknown>, claim: IdempotencyClaim | undefined) => {
      const runId = String(row.run_id);
      if (claim) {
        const now = Date.now();
        prepared(db, 'DELETE FROM idempotency WHERE created_at < ?').run(now - claim.ttlMs);
        const held = prepared(db, 'SELECT run_id, fingerprint FROM idempotency WHERE principal = ? AND key = ?').get(claim.principal, claim.key) as
          | { run_id: string; fingerprint: string }
          | undefined;
        if (held) return { runId: held.run_id, fingerprint: held.fingerprint };
        prepared(db, 'INSERT INTO idempotency (principal, key, run_id, fingerprint, created_at) VALUES (?, ?, ?, ?, ?)').run(claim.principal, claim.key, runId, claim.fingerprint, now);
      }
      const cols = Object.keys(row);
      prepared(db, `INSERT INTO runs (${cols.join(',')}) VALUES (${cols.map((c) => `@${c}`).join(',')})`).run(row);
      return { runId, fingerprint: claim?.fingerprint ?? null };
    });
  }

  insert(run: Run, claim?: IdempotencyClaim): Promise<{ runId: string; fingerprint: string | null }> {
    const row: Record<string, unknown> = Object.fromEntries(Object.entries(run).filter(([k]) => PATCHABLE.has(k) || k === 'run_id').map(([k, v]) => [k, column(k, v)]));
    return Promise.resolve(this.insertRow(row, claim));
  }

  update(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const entries = Object.entries(patch).filter(([k, v]) => PATCHABLE.has(k) && v !== undefined);
    if (!entries.length) return this.get(runId);
    const sets = entries.map(([k]) => `${k} = @${k}`).join(', ');
    const values = Object.fromEntries(entries.map(([k, v]) => [k, column(k, v)]));
    // The row as updated, in the same statement: no second query to read it back. `all`, not `get`:
    // the change is committed as the statement runs to its end, and only a statement run to its end
    // reports a commit that failed (a full disk); `get` stops at the first row and would not.
    const [row] = prepared(this.db, `UPDATE runs SET ${sets} WHERE run_id = @run_id RETURNING *`).all({ ...values, run_id: runId }) as Row[];
    return Promise.resolve(row && toRun(row));
  }

  get(runId: string): Promise<Run | undefined> {
    const row = prepared(this.db, 'SELECT * FROM runs WHERE run_id = ?').get(runId) as Row | undefined;
    return Promise.resolve(row && toRun(row));
  }

  list(filter: RunFilter): Promise<RunList> {
    const { rows, next_cursor } = selectPage<Row>(this.db, { table: 'runs', seq: 'seq', equals: { status: filter.status, name: filter.name }, cursor: filter.cursor, limit: filter.limit });
    return Promise.resolve({ items: rows.map(toRun), next_cursor });
  }

  counts(): Promise<RunCounts> {
    return Promise.resolve(countsOf(prepared(this.db, 'SELECT status, COUNT(*) AS n FROM runs GROUP BY status').all() as { status: string; n: number }[]));
  }

  unfinished(): Promise<{ run: Run; process: ProcessHandle | null }[]> {
    const rows = prepared(this.db, "SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY seq").all() as Row[];
    return Promise.resolve(rows.map((row) => ({ run: toRun(row), process: row.process ? (JSON.parse(row.process) as ProcessHandle) : null })));
  }

  setProcess(runId: string, handle: ProcessHandle | null): Promise<void> {
    prepared(this.db, 'UPDATE runs SET process = ? WHERE run_id = ?').run(handle && JSON.stringify(handle), runId);
    return Promise.resolve();
  }

  expired(rule: { finishedBefore: string | null; keepPerTool: number; limit: number }): Promise<string[]> {
    const rows = prepared(
      this.db,
      `SELECT run_id FROM (
         SELECT run_id, finished_at, ROW_NUMBER() OVER (PARTITION BY name ORDER BY seq DESC) AS newest
         FROM runs WHERE status NOT IN ('queued', 'running')
       )
       WHERE (@before IS NOT NULL AND finished_at < @before) OR (@keep > 0 AND newest > @keep)
       LIMIT @limit`,
    ).all({ before: rule.finishedBefore, keep: rule.keepPerTool, limit: rule.limit }) as { run_id: string }[];
    return Promise.resolve(rows.map((r) => r.run_id));
  }

  releaseIdempotencyKey(runId: string): Promise<void> {
    prepared(this.db, 'DELETE FROM idempotency WHERE run_id = ?').run(runId);
    return Promise.resolve();
  }

  remove(runIds: string[]): Promise<void> {
    const runs = prepared(this.db, "DELETE FROM runs WHERE run_id = ? AND status NOT IN ('queued', 'running')");
    const keys = prepared(this.db, 'DELETE FROM idempotency WHERE run_id = ?');
    this.db.transaction(() => {
      for (const id of runIds) {
        runs.run(id);
        keys.run(id);
      }
    })();
    return Promise.resolve();
  }

  compact(): Promise<void> {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return Promise.resolve();
  }
}
