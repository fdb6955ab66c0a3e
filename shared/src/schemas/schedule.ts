import { z } from 'zod';
import { Role } from './auth';
import { RunId, StartRunInput } from './run';

/** When an occurrence comes while the schedule's previous run is still going. */
export const ScheduleOverlap = z
  .enum(['skip', 'queue'])
  .describe('`skip`: the occurrence is dropped; `queue`: it starts once the previous run has ended (at most one waits: later occurrences fold into it)');
export type ScheduleOverlap = z.infer<typeof ScheduleOverlap>;

/** What became of a schedule's last occurrence. */
export const ScheduleResult = z
  .enum(['started', 'skipped', 'queued', 'missed', 'failed'])
  .describe('`started`: a run began; `skipped`: the previous run was still going; `queued`: it waits for the previous run to end; `missed`: the server was down past SCHEDULE_GRACE_S; `failed`: the start was refused (see last_error)');
export type ScheduleResult = z.infer<typeof ScheduleResult>;

export const ScheduleId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a schedule id this server gave out').describe('the schedule id');

const Timestamp = z.iso.datetime({ offset: true });

export const Cron = z
  .string()
  .min(1)
  .max(256)
  .describe('a cron expression: five fields (minute hour day-of-month month day-of-week) or six with seconds first; `L`, `#`, ranges, steps and names allowed');

export const TimeZone = z.string().min(1).max(64).describe('the IANA time zone the expression is read in, such as `Europe/Paris`');

/** The most upcoming fire times a schedule shows. */
export const NEXT_FIRE_TIMES = 5;

export const Schedule = z
  .object({
    schedule_id: ScheduleId,
    name: z.string().describe('the catalog tool it runs'),
    params: z.record(z.string(), z.unknown()).describe('the parameters each run gets, checked again at each start'),
    cron: z.string(),
    timezone: z.string(),
    overlap: ScheduleOverlap,
    paused: z.boolean(),
    created_at: Timestamp,
    created_by: z.string().nullable(),
    updated_at: Timestamp,
    next_fire_times: z.array(Timestamp).describe(`the next ${NEXT_FIRE_TIMES} occurrences (none while paused)`),
    pending_at: Timestamp.nullable().describe('an occurrence waiting for the previous run to end (overlap `queue`)'),
    last_fired_at: Timestamp.nullable().describe('the occurrence last handled'),
    last_result: ScheduleResult.nullable(),
    last_run_id: RunId.nullable().describe('the run its last start made; its runs have `requested_by: "schedule:<schedule_id>"`'),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'Schedule' });
export type Schedule = z.infer<typeof Schedule>;

export const ScheduleEnvelope = z.object({ schedule: Schedule });
export type ScheduleEnvelope = z.infer<typeof ScheduleEnvelope>;

export const ScheduleList = z.object({ items: z.array(Schedule), manage_role: Role.describe('the role that may create, change, pause, resume and delete them (SCHEDULES_ROLE)') });
export type ScheduleList = z.infer<typeof ScheduleList>;

export const ScheduleIdInput = z.object({ schedule_id: ScheduleId });

export const CreateScheduleInput = StartRunInput.extend({
  cron: Cron,
  timezone: TimeZone.default('UTC'),
  overlap: ScheduleOverlap.default('skip'),
  paused: z.boolean().default(false).describe('created paused: it fires once resumed'),
});
export type CreateScheduleInput = z.infer<typeof CreateScheduleInput>;

/** Fields left out stay as they are; `params`, when given, replaces them whole. */
export const UpdateScheduleInput = z.object({
  schedule_id: ScheduleId,
  name: StartRunInput.shape.name.optional(),
  params: StartRunInput.shape.params,
  cron: Cron.optional(),
  timezone: TimeZone.optional(),
  overlap: ScheduleOverlap.optional(),
});
export type UpdateScheduleInput = z.infer<typeof UpdateScheduleInput>;

export const SchedulePreviewInput = z.object({ cron: Cron, timezone: TimeZone.default('UTC') });

export const SchedulePreview = z.object({ next_fire_times: z.array(Timestamp) });
export type SchedulePreview = z.infer<typeof SchedulePreview>;

export { scheduleOf, scheduleRequester } from './enums';
