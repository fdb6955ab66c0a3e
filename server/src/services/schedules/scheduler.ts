/**
 * Fires schedules. Every server, and every API node of a fleet, ticks (SCHEDULE_TICK_MS) and handles
 * the schedules that are due; nothing is elected. An occurrence fires exactly once however many nodes
 * handle it, through the database:
 *
 * - its run is started with the idempotency claim `(schedule:<id>, occurrence:<time>)`, a primary key
 *   inserted in the run's own transaction: a second node starting the same occurrence gets the same run;
 * - the schedule then moves on by a conditional UPDATE (`settle`) of the state the node read: one
 *   node's change lands, the others find the state moved and change nothing.
 *
 * The run is started before the state moves on, so a node killed between the two leaves the
 * occurrence due: the next node to look starts it again and gets the same run back.
 *
 * Only the latest occurrence at or before now is ever considered: after downtime it runs once if it is
 * within SCHEDULE_GRACE_S, else it is recorded as missed; the ones before it never run (no burst).
 */
import { isFinal } from '../../../../shared/src/schemas/run';
import { scheduleRequester } from '../../../../shared/src/schemas/schedule';
import { asDomainError } from '../../errors';
import type { SchedulePatch, ScheduleRecord, ScheduleStore } from '../../store/scheduleStore';
import type { RunService } from '../runs';
import type { CronSchedule } from './cron';

export interface SchedulerOptions {
  /** How late an occurrence may still start (SCHEDULE_GRACE_S), in milliseconds. */
  graceMs: number;
  /** How often due schedules are looked for (SCHEDULE_TICK_MS). */
  tickMs: number;
}

export interface SchedulerDeps {
  store: ScheduleStore;
  runs: Pick<RunService, 'start' | 'get'>;
  cronOf: (record: ScheduleRecord) => CronSchedule | null;
  log: { info: (msg: string) => void; warn: (msg: string) => void; error: (msg: string, e?: unknown) => void };
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = true;
  /** Occurrences whose start was refused for now (503): said once each, tried again each tick while within grace. */
  private readonly deferred = new Set<string>();

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly options: SchedulerOptions,
  ) {}

  /** Handles what is due now (what came due while the server was down), then keeps ticking. */
  start(): void {
    this.stopped = false;
    this.next(0);
  }

  /** Ticks no more; resolves once the tick under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
  }

  /** Ticks just after the whole seconds cron occurrences fall on. */
  private next(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.next(this.options.tickMs - (Date.now() % this.options.tickMs) + 5));
    }, delayMs);
  }

  /** One look at every due schedule; one failing does not hold up the others. */
  async tick(now = new Date()): Promise<void> {
    let due: ScheduleRecord[];
    try {
      due = await this.deps.store.due(now.toISOString());
    } catch (e) {
      this.deps.log.error('could not read the schedules that are due', e);
      return;
    }
    for (const schedule of due) {
      if (this.stopped) return;
      await this.handle(schedule, now).catch((e: unknown) => this.deps.log.error(`schedule ${schedule.schedule_id}: could not fire`, e));
    }
  }

  private async handle(schedule: ScheduleRecord, now: Date): Promise<void> {
    const { store } = this.deps;
    const seen = { next_fire_at: schedule.next_fire_at, pending_at: schedule.pending_at };
    const cron = this.deps.cronOf(schedule);
    if (!cron) {
      await store.settle(schedule.schedule_id, seen, { next_fire_at: null, pending_at: null, last_result: 'failed', last_error: `the expression "${schedule.cron}" no longer reads in time zone ${schedule.timezone}` });
      return;
    }
    const patch: SchedulePatch = {};
    let occurrence: string | null = null;
    if (schedule.next_fire_at !== null && schedule.next_fire_at <= now.toISOString()) {
      patch.next_fire_at = cron.nextAfter(now)?.toISOString() ?? null;
      const latest = cron.latestAtOrBefore(now) ?? new Date(schedule.next_fire_at);
      if (now.getTime() - latest.getTime() <= this.options.graceMs) occurrence = latest.toISOString();
      else Object.assign(patch, this.missed(schedule, latest, now));
    }
    // A newer occurrence takes the place of one waiting: at most one waits.
    if (schedule.pending_at !== null) {
      occurrence ??= schedule.pending_at;
      patch.pending_at = null;
    }
    if (occurrence === null) {
      await store.settle(schedule.schedule_id, seen, patch);
      return;
    }
    if (await this.previousGoing(schedule)) {
      // Still waiting, and nothing new: nothing to write.
      if (schedule.overlap === 'queue' && occurrence === schedule.pending_at && patch.next_fire_at === undefined) return;
      const result = schedule.overlap === 'queue' ? { pending_at: occurrence, last_result: 'queued' as const } : { last_result: 'skipped' as const };
      await store.settle(schedule.schedule_id, seen, { ...patch, ...result, last_fired_at: occurrence, last_error: null });
      return;
    }
    const fired = await this.fire(schedule, occurrence, now);
    if (fired) await store.settle(schedule.schedule_id, seen, { ...patch, ...fired, last_fired_at: occurrence });
  }

  /** Starts the occurrence's run (the same run on every node that starts it); null when it should be tried again on a later tick. */
  private async fire(schedule: ScheduleRecord, occurrence: string, now: Date): Promise<SchedulePatch | null> {
    const id = schedule.schedule_id;
    try {
      const run = await this.deps.runs.start({ name: schedule.name, params: schedule.params }, scheduleRequester(id), `occurrence:${occurrence}`);
      this.deferred.delete(`${id} ${occurrence}`);
      return { pending_at: null, last_result: 'started', last_run_id: run.run_id, last_error: null };
    } catch (e) {
      const domain = asDomainError(e);
      const message = domain?.message ?? (e as Error).message;
      // Not now (the database away, the disk full, shutting down): again next tick, while within grace.
      if (domain?.kind === 'unavailable' && now.getTime() - Date.parse(occurrence) < this.options.graceMs) {
        if (!this.deferred.has(`${id} ${occurrence}`)) this.deps.log.warn(`schedule ${id}: the run of ${occurrence} could not start yet (${message}); trying again`);
        this.deferred.add(`${id} ${occurrence}`);
        return null;
      }
      this.deferred.delete(`${id} ${occurrence}`);
      this.deps.log.warn(`schedule ${id}: the run of ${occurrence} was refused: ${message}`);
      return { pending_at: null, last_result: 'failed', last_error: message };
    }
  }

  private missed(schedule: ScheduleRecord, latest: Date, now: Date): SchedulePatch {
    const lateS = Math.round((now.getTime() - latest.getTime()) / 1000);
    const error = `the occurrence of ${latest.toISOString()} was not started: no server was running then, and ${lateS} s is past SCHEDULE_GRACE_S (${this.options.graceMs / 1000} s)`;
    this.deps.log.warn(`schedule ${schedule.schedule_id}: ${error}`);
    return { last_fired_at: latest.toISOString(), last_result: 'missed', last_error: error };
  }

  /** Whether the schedule's last run has not ended (a run deleted since has). */
  private async previousGoing(schedule: ScheduleRecord): Promise<boolean> {
    if (!schedule.last_run_id) return false;
    try {
      return !isFinal((await this.deps.runs.get(schedule.last_run_id)).status);
    } catch (e) {
      if (asDomainError(e)?.kind === 'not_found') return false;
      throw e;
    }
  }
}
