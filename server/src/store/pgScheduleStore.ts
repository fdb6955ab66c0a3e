/** Schedules in PostgreSQL: the same behaviour as the SQLite store, shared by every node of a fleet. */
import type pg from 'pg';
import { withoutNul } from './pgDb';
import { SCHEDULE_PATCHABLE, type FiringState, type SchedulePatch, type ScheduleRecord, type ScheduleStore } from './scheduleStore';

/** Ids are made by the server, but a path parameter with a NUL would make PostgreSQL throw. */
const impossible = (id: string) => id.includes('\0');

const setsOf = (patch: SchedulePatch, first: number) => {
  const entries = Object.entries(patch).filter(([k, v]) => SCHEDULE_PATCHABLE.has(k) && v !== undefined);
  return { sql: entries.map(([k], i) => `${k} = $${i + first}`).join(', '), args: withoutNul(entries.map(([, v]) => v)) };
};

export class PgScheduleStore implements ScheduleStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(record: ScheduleRecord): Promise<void> {
    const entries = Object.entries(record);
    await this.pool.query(
      `INSERT INTO schedules (${entries.map(([k]) => k).join(', ')}) VALUES (${entries.map((_, i) => `$${i + 1}`).join(', ')})`,
      withoutNul(entries.map(([, v]): unknown => v)),
    );
  }

  async get(id: string): Promise<ScheduleRecord | undefined> {
    if (impossible(id)) return undefined;
    return (await this.pool.query<ScheduleRecord>('SELECT * FROM schedules WHERE schedule_id = $1', [id])).rows[0];
  }

  async list(): Promise<ScheduleRecord[]> {
    return (await this.pool.query<ScheduleRecord>('SELECT * FROM schedules ORDER BY created_at, schedule_id')).rows;
  }

  async count(): Promise<number> {
    return (await this.pool.query<{ n: number }>('SELECT COUNT(*) AS n FROM schedules')).rows[0]?.n ?? 0;
  }

  async update(id: string, patch: SchedulePatch): Promise<ScheduleRecord | undefined> {
    if (impossible(id)) return undefined;
    const { sql, args } = setsOf(patch, 2);
    if (!sql) return this.get(id);
    return (await this.pool.query<ScheduleRecord>(`UPDATE schedules SET ${sql} WHERE schedule_id = $1 RETURNING *`, [id, ...args])).rows[0];
  }

  async delete(id: string): Promise<boolean> {
    if (impossible(id)) return false;
    return ((await this.pool.query('DELETE FROM schedules WHERE schedule_id = $1', [id])).rowCount ?? 0) > 0;
  }

  async due(now: string): Promise<ScheduleRecord[]> {
    return (await this.pool.query<ScheduleRecord>('SELECT * FROM schedules WHERE NOT paused AND (next_fire_at <= $1 OR pending_at IS NOT NULL)', [now])).rows;
  }

  /** Nodes settling the same schedule at once queue on its row lock; the second then finds the state moved and changes nothing. */
  async settle(id: string, seen: FiringState, patch: SchedulePatch): Promise<boolean> {
    const { sql, args } = setsOf(patch, 4);
    if (!sql) return true;
    const { rowCount } = await this.pool.query(
      `UPDATE schedules SET ${sql} WHERE schedule_id = $1 AND NOT paused AND next_fire_at IS NOT DISTINCT FROM $2 AND pending_at IS NOT DISTINCT FROM $3`,
      [id, seen.next_fire_at, seen.pending_at, ...args],
    );
    return (rowCount ?? 0) > 0;
  }
}
