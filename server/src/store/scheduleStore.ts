/** Where schedules are kept: SQLite on a single server, PostgreSQL with DATABASE_URL (and so on a fleet). */
import type { ScheduleOverlap, ScheduleResult } from '../../../shared/src/schemas/schedule';

/** A schedule as stored: what it runs and when, and where its firing stands. */
export interface ScheduleRecord {
  schedule_id: string;
  name: string;
  params: Record<string, unknown>;
  cron: string;
  timezone: string;
  overlap: ScheduleOverlap;
  paused: boolean;
  created_at: string;
  created_by: string | null;
  updated_at: string;
  /** The next occurrence not yet handled (ISO, UTC); null while paused or when the expression fires no more. */
  next_fire_at: string | null;
  /** An occurrence waiting for the previous run to end (overlap `queue`). */
  pending_at: string | null;
  last_fired_at: string | null;
  last_result: ScheduleResult | null;
  last_run_id: string | null;
  last_error: string | null;
}

export type SchedulePatch = Partial<Omit<ScheduleRecord, 'schedule_id' | 'created_at' | 'created_by'>>;

/** The firing state a scheduler read, which its change must still find (else another node got there first). */
export type FiringState = Pick<ScheduleRecord, 'next_fire_at' | 'pending_at'>;

/** Columns a patch may set (names from code, never from input). */
export const SCHEDULE_PATCHABLE: ReadonlySet<string> = new Set([
  'name',
  'params',
  'cron',
  'timezone',
  'overlap',
  'paused',
  'updated_at',
  'next_fire_at',
  'pending_at',
  'last_fired_at',
  'last_result',
  'last_run_id',
  'last_error',
] satisfies (keyof SchedulePatch)[]);

export interface ScheduleStore {
  insert(record: ScheduleRecord): Promise<void>;
  get(id: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule, oldest first. */
  list(): Promise<ScheduleRecord[]>;
  count(): Promise<number>;
  /** Changes a schedule as a person asked; undefined when there is none. */
  update(id: string, patch: SchedulePatch): Promise<ScheduleRecord | undefined>;
  delete(id: string): Promise<boolean>;
  /** Schedules not paused with an occurrence due at `now` (ISO) or one waiting. */
  due(now: string): Promise<ScheduleRecord[]>;
  /**
   * Applies `patch` only if the schedule's firing state is still `seen`, in one statement: of several
   * nodes handling the same occurrence, one changes it. Answers whether this one did.
   */
  settle(id: string, seen: FiringState, patch: SchedulePatch): Promise<boolean>;
}
