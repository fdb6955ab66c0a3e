/** The run store in PostgreSQL: the same behaviour as SqliteRunStore, through a connection pool. */
import type pg from 'pg';
import type { RunCounts } from '../../../shared/src/schemas/health';
import { Run, type RunList } from '../../../shared/src/schemas/run';
import { selectPagePg, transaction, withoutNul } from './pgDb';
import { countsOf, type IdempotencyClaim, type ProcessHandle, type RunFilter, type RunPatch, type RunStore } from './runStore';

export type RunRow = Record<string, unknown> & { seq: number; process: ProcessHandle | null; owner?: string | null };
type Row = RunRow;

const JSON_COLUMNS = new Set(['cmd', 'params', 'limits', 'artifacts', 'summary']);
/** Columns a patch may set; the presigned links are made when a run is read, never stored. */
const COLUMNS = new Set(Object.keys(Run.shape).filter((k) => k !== 'log_url'));
const column = (key: string, value: unknown) => {
  const clean = withoutNul(value);
  return JSON_COLUMNS.has(key) && clean !== null ? JSON.stringify(clean) : clean;
};
/** An id with a NUL in it names no run (PostgreSQL could not even compare it). */
const impossible = (runId: string) => runId.includes('\0');

export function toRun(row: Row): Run {
  const { seq: _seq, process: _process, owner: _owner, ...rest } = row;
  return { ...rest, log_url: null } as Run;
}

/**
 * A fleet's worker writes a run only while the run is its own (`owner`), and its state only while the
 * run goes on: a run the fleet judged `lost` meanwhile keeps that judgment (the worker may add how its
 * tool ended, `lost` still). A write left undone is told to `onRefused`.
 */
export interface RunOwner {
  owner: string;
  onRefused: (runId: string, patch: RunPatch) => void;
}

export class PgRunStore implements RunStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly owned?: RunOwner,
  ) {}

  async insert(run: Run, claim?: IdempotencyClaim): Promise<{ runId: string; fingerprint: string | null }> {
    const entries = Object.entries(run).filter(([k]) => COLUMNS.has(k));
    const sql = `INSERT INTO runs (${entries.map(([k]) => k).join(',')}) VALUES (${entries.map((_, i) => `$${i + 1}`).join(',')})`;
    const values = entries.map(([k, v]) => column(k, v));
    return transaction(this.pool, async (client) => {
      if (claim) {
        const now = Date.now();
        await client.query('DELETE FROM idempotency WHERE created_at < $1', [now - claim.ttlMs]);
        // A second start with the key waits here for the first to commit, then finds its run.
        const claimed = await client.query(
          'INSERT INTO idempotency (principal, key, run_id, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (principal, key) DO NOTHING',
          withoutNul([claim.principal, claim.key, run.run_id, claim.fingerprint, now]),
        );
        if (claimed.rowCount === 0) {
          const { rows } = await client.query<{ run_id: string; fingerprint: string }>('SELECT run_id, fingerprint FROM idempotency WHERE principal = $1 AND key = $2', withoutNul([claim.principal, claim.key]));
          const held = rows[0];
          if (held) return { runId: held.run_id, fingerprint: held.fingerprint };
        }
      }
      await client.query(sql, values);
      return { runId: run.run_id, fingerprint: claim?.fingerprint ?? null };
    });
  }

  async update(runId: string, patch: RunPatch): Promise<Run | undefined> {
    if (impossible(runId)) return undefined;
    const entries = Object.entries(patch).filter(([k, v]) => COLUMNS.has(k) && v !== undefined);
    if (!entries.length) return this.get(runId);
    const sets = entries.map(([k], i) => `${k} = $${i + 2}`).join(', ');
    const values = [runId, ...entries.map(([k, v]) => column(k, v))];
    let where = 'run_id = $1';
    if (this.owned) {
      values.push(this.owned.owner);
      where += ` AND owner = $${values.length}`;
      if (patch.status) where += ` AND (status IN ('queued', 'running') OR (status = 'lost' AND $${entries.findIndex(([k]) => k === 'status') + 2} = 'lost'))`;
    }
    const { rows } = await this.pool.query<Row>(`UPDATE runs SET ${sets} WHERE ${where} RETURNING *`, values);
    if (!rows[0] && this.owned) this.owned.onRefused(runId, patch);
    return rows[0] && toRun(rows[0]);
  }

  async get(runId: string): Promise<Run | undefined> {
    if (impossible(runId)) return undefined;
    const { rows } = await this.pool.query<Row>('SELECT * FROM runs WHERE run_id = $1', [runId]);
    return rows[0] && toRun(rows[0]);
  }

  async list(filter: RunFilter): Promise<RunList> {
    const { rows, next_cursor } = await selectPagePg<Row>(this.pool, { table: 'runs', seq: 'seq', equals: { status: filter.status, name: filter.name }, cursor: filter.cursor, limit: filter.limit });
    return { items: rows.map(toRun), next_cursor };
  }

  async counts(): Promise<RunCounts> {
    return countsOf((await this.pool.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM runs GROUP BY status')).rows);
  }

  async unfinished(): Promise<{ run: Run; process: ProcessHandle | null }[]> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM runs WHERE status IN ('queued', 'running') ORDER BY seq");
    return rows.map((row) => ({ run: toRun(row), process: row.process }));
  }

  async setProcess(runId: string, handle: ProcessHandle | null): Promise<void> {
    await this.pool.query(`UPDATE runs SET process = $1 WHERE run_id = $2${this.owned ? ' AND owner = $3' : ''}`, [handle && JSON.stringify(handle), runId, ...(this.owned ? [this.owned.owner] : [])]);
  }

  async expired(rule: { finishedBefore: string | null; keepPerTool: number; limit: number }): Promise<string[]> {
    const { rows } = await this.pool.query<{ run_id: string }>(
      `SELECT run_id FROM (
         SELECT run_id, finished_at, ROW_NUMBER() OVER (PARTITION BY name ORDER BY seq DESC) AS newest
         FROM runs WHERE status NOT IN ('queued', 'running')
       ) finished
       WHERE ($1::text IS NOT NULL AND finished_at < $1::text) OR ($2::int > 0 AND newest > $2::int)
       LIMIT $3`,
      [rule.finishedBefore, rule.keepPerTool, rule.limit],
    );
    return rows.map((r) => r.run_id);
  }

  async releaseIdempotencyKey(runId: string): Promise<void> {
    await this.pool.query('DELETE FROM idempotency WHERE run_id = $1', [runId]);
  }

  async remove(runIds: string[]): Promise<void> {
    await transaction(this.pool, async (client) => {
      await client.query("DELETE FROM runs WHERE run_id = ANY($1) AND status NOT IN ('queued', 'running')", [runIds]);
      await client.query('DELETE FROM idempotency WHERE run_id = ANY($1)', [runIds]);
    });
  }

  compact(): Promise<void> {
    // PostgreSQL's autovacuum gives deleted rows' space back to the tables on its own.
    return Promise.resolve();
  }
}
