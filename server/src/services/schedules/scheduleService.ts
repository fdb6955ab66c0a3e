/**
 * Schedules as people manage them: create, list, change, pause, resume, delete. Each is checked like a
 * start (the same RunService.admit: tool, availability, parameters) and its cron expression and time
 * zone by croner, all faults in one 400 naming each field. Firing is the Scheduler's business.
 */
import { randomUUID } from 'node:crypto';
import type { Role } from '../../../../shared/src/schemas/auth';
import type { ApiIssue } from '../../../../shared/src/schemas/error';
import { NEXT_FIRE_TIMES, type CreateScheduleInput, type Schedule, type ScheduleList, type SchedulePreview, type UpdateScheduleInput } from '../../../../shared/src/schemas/schedule';
import { asDomainError, conflict, invalidFields, notFound } from '../../errors';
import type { ScheduleRecord, ScheduleStore } from '../../store/scheduleStore';
import type { RunService } from '../runs';
import { CronSchedule } from './cron';

export interface ScheduleServiceOptions {
  /** The role that may create, change, pause, resume and delete schedules (SCHEDULES_ROLE). */
  manageRole: Role;
  /** Schedules kept at most (SCHEDULES_MAX). */
  maxSchedules: number;
}

export class ScheduleService {
  private readonly crons = new Map<string, CronSchedule>();

  constructor(
    private readonly deps: { store: ScheduleStore; runs: Pick<RunService, 'admit'>; now?: () => Date },
    readonly options: ScheduleServiceOptions,
  ) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async list(): Promise<ScheduleList> {
    return { items: (await this.deps.store.list()).map((r) => this.present(r)), manage_role: this.options.manageRole };
  }

  async get(id: string): Promise<Schedule> {
    return this.present(await this.record(id));
  }

  /** The next occurrences of an expression, or a 400 naming `cron` or `timezone`. */
  preview(cron: string, timezone: string): SchedulePreview {
    const parsed = CronSchedule.parse(cron, timezone);
    if (Array.isArray(parsed)) throw invalidFields(parsed);
    return { next_fire_times: parsed.next(NEXT_FIRE_TIMES, this.now()).map((d) => d.toISOString()) };
  }

  async create(input: CreateScheduleInput, createdBy: string | null): Promise<Schedule> {
    const cron = this.check(input);
    if ((await this.deps.store.count()) >= this.options.maxSchedules) throw conflict(`there are ${this.options.maxSchedules} schedules already (SCHEDULES_MAX): delete one first`);
    const at = this.now().toISOString();
    const record: ScheduleRecord = {
      schedule_id: randomUUID(),
      name: input.name,
      params: input.params ?? {},
      cron: input.cron,
      timezone: input.timezone,
      overlap: input.overlap,
      paused: input.paused,
      created_at: at,
      created_by: createdBy,
      updated_at: at,
      next_fire_at: input.paused ? null : this.nextAfterNow(cron),
      pending_at: null,
      last_fired_at: null,
      last_result: null,
      last_run_id: null,
      last_error: null,
    };
    await this.deps.store.insert(record);
    return this.present(record);
  }

  /** Fields left out stay; a new expression or time zone counts from now. */
  async update(input: UpdateScheduleInput): Promise<Schedule> {
    const current = await this.record(input.schedule_id);
    const merged = {
      name: input.name ?? current.name,
      params: input.params ?? current.params,
      cron: input.cron ?? current.cron,
      timezone: input.timezone ?? current.timezone,
      overlap: input.overlap ?? current.overlap,
    };
    const cron = this.check(merged);
    const retimed = merged.cron !== current.cron || merged.timezone !== current.timezone;
    const updated = await this.deps.store.update(current.schedule_id, {
      ...merged,
      updated_at: this.now().toISOString(),
      ...(retimed && !current.paused ? { next_fire_at: this.nextAfterNow(cron) } : {}),
    });
    return this.present(updated ?? this.missing(input.schedule_id));
  }

  /** No occurrence fires while paused; one waiting (overlap `queue`) is dropped. */
  async pause(id: string): Promise<Schedule> {
    await this.record(id);
    const paused = await this.deps.store.update(id, { paused: true, next_fire_at: null, pending_at: null, updated_at: this.now().toISOString() });
    return this.present(paused ?? this.missing(id));
  }

  /** Fires from the next occurrence after now: none missed while paused is made up. */
  async resume(id: string): Promise<Schedule> {
    const current = await this.record(id);
    const cron = this.cronOf(current);
    const resumed = await this.deps.store.update(id, { paused: false, next_fire_at: cron ? this.nextAfterNow(cron) : null, updated_at: this.now().toISOString() });
    return this.present(resumed ?? this.missing(id));
  }

  /** Deletes it (its runs stay on record); answers it as it was. */
  async remove(id: string): Promise<Schedule> {
    const current = await this.record(id);
    if (!(await this.deps.store.delete(id))) this.missing(id);
    return this.present({ ...current, next_fire_at: null, pending_at: null });
  }

  /** The expression read in its time zone, cached per (expression, zone); null if it no longer reads (a time zone dropped from the system's data). */
  cronOf(record: Pick<ScheduleRecord, 'cron' | 'timezone'>): CronSchedule | null {
    const key = `${record.timezone} ${record.cron}`;
    let cron = this.crons.get(key);
    if (!cron) {
      const parsed = CronSchedule.parse(record.cron, record.timezone);
      if (Array.isArray(parsed)) return null;
      if (this.crons.size >= 4 * this.options.maxSchedules) this.crons.clear();
      this.crons.set(key, (cron = parsed));
    }
    return cron;
  }

  /**
   * A schedule's fields checked as a start would check them (tool, availability, parameters) and its
   * expression and zone; every field at fault in one 400.
   */
  private check(input: Pick<ScheduleRecord, 'name' | 'cron' | 'timezone'> & { params?: Record<string, unknown> | undefined }): CronSchedule {
    const parsed = CronSchedule.parse(input.cron, input.timezone);
    const issues: ApiIssue[] = Array.isArray(parsed) ? [...parsed] : [];
    try {
      this.deps.runs.admit({ name: input.name, params: input.params });
    } catch (e) {
      const domain = asDomainError(e);
      // An unknown or unavailable tool is a 404 or 409, as for a start, unless the expression is at fault too.
      if (!domain || (domain.kind !== 'bad_request' && !issues.length)) throw e;
      issues.unshift(...(domain.issues ?? [issueOf(domain.message)]));
    }
    if (issues.length || Array.isArray(parsed)) throw invalidFields(issues);
    return parsed;
  }

  private nextAfterNow(cron: CronSchedule): string | null {
    return cron.nextAfter(this.now())?.toISOString() ?? null;
  }

  private async record(id: string): Promise<ScheduleRecord> {
    return (await this.deps.store.get(id)) ?? this.missing(id);
  }

  private missing(id: string): never {
    throw notFound(`schedule_id: no schedule "${id}"`);
  }

  /** A schedule as answered, with its next occurrences (none while paused). */
  present(record: ScheduleRecord): Schedule {
    const { next_fire_at, ...rest } = record;
    const cron = record.paused || next_fire_at === null ? null : this.cronOf(record);
    return { ...rest, next_fire_times: cron ? cron.next(NEXT_FIRE_TIMES, this.now()).map((d) => d.toISOString()) : [] };
  }
}

/** A 400 message `field: text` as an issue. */
function issueOf(message: string): ApiIssue {
  const m = /^([\w.]+): (.*)$/s.exec(message);
  return m?.[1] && m[2] ? { path: m[1], message: m[2] } : { path: '(body)', message };
}
