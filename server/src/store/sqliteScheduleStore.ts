/** Schedules in the embedded SQLite database. */
import type Database from 'better-sqlite3';
import { SCHEDULE_PATCHABLE, type FiringState, type SchedulePatch, type ScheduleRecord, type ScheduleStore } from './scheduleStore';
import { prepared } from './sqliteDb';

type Row = Omit<ScheduleRecord, 'params' | 'paused'> & { params: string; paused: number };

const toRecord = ({ params, paused, ...rest }: Row): ScheduleRecord => ({ ...rest, params: JSON.parse(params) as Record<string, unknown>, paused: paused !== 0 });

/** SQLite has no booleans or JSON: 0/1 and text. */
const column = (key: string, value: unknown) => (key === 'params' ? JSON.stringify(value) : typeof value === 'boolean' ? Number(value) : value);

const setsOf = (patch: SchedulePatch) => {
  const entries = Object.entries(patch).filter(([k, v]) => SCHEDULE_PATCHABLE.has(k) && v !== undefined);
  return { sql: entries.map(([k]) => `${k} = @${k}`).join(', '), args: Object.fromEntries(entries.map(([k, v]) => [k, column(k, v)])) };
};

export class SqliteScheduleStore implements ScheduleStore {
  constructor(private readonly db: Database.Database) {}

  insert(record: ScheduleRecord): Promise<void> {
    const cols = Object.keys(record);
    prepared(this.db, `INSERT INTO schedules (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`).run(Object.fromEntries(Object.entries(record).map(([k, v]) => [k, column(k, v)])));
    return Promise.resolve();
  }

  get(id: string): Promise<ScheduleRecord | undefined> {
    const row = prepared(this.db, 'SELECT * FROM schedules WHERE schedule_id = ?').get(id) as Row | undefined;
    return Promise.resolve(row && toRecord(row));
  }

  list(): Promise<ScheduleRecord[]> {
    return Promise.resolve((prepared(this.db, 'SELECT * FROM schedules ORDER BY created_at, schedule_id').all() as Row[]).map(toRecord));
  }

  count(): Promise<number> {
    return Promise.resolve((prepared(this.db, 'SELECT COUNT(*) AS n FROM schedules').get() as { n: number }).n);
  }

  async update(id: string, patch: SchedulePatch): Promise<ScheduleRecord | undefined> {
    const { sql, args } = setsOf(patch);
    if (sql) prepared(this.db, `UPDATE schedules SET ${sql} WHERE schedule_id = @id`).run({ ...args, id });
    return this.get(id);
  }

  delete(id: string): Promise<boolean> {
    return Promise.resolve(prepared(this.db, 'DELETE FROM schedules WHERE schedule_id = ?').run(id).changes > 0);
  }

  due(now: string): Promise<ScheduleRecord[]> {
    const rows = prepared(this.db, 'SELECT * FROM schedules WHERE paused = 0 AND (next_fire_at <= ? OR pending_at IS NOT NULL)').all(now) as Row[];
    return Promise.resolve(rows.map(toRecord));
  }

  settle(id: string, seen: FiringState, patch: SchedulePatch): Promise<boolean> {
    const { sql, args } = setsOf(patch);
    if (!sql) return Promise.resolve(true);
    const changed = prepared(this.db, `UPDATE schedules SET ${sql} WHERE schedule_id = @id AND paused = 0 AND next_fire_at IS @seen_next AND pending_at IS @seen_pending`).run({ ...args, id, seen_next: seen.next_fire_at, seen_pending: seen.pending_at }).changes;
    return Promise.resolve(changed > 0);
  }
}
