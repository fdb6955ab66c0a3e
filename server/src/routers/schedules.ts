import { z } from 'zod';
import {
  CreateScheduleInput,
  ScheduleEnvelope,
  ScheduleIdInput,
  ScheduleList,
  SchedulePreview,
  SchedulePreviewInput,
  UpdateScheduleInput,
} from '../../../shared/src/schemas/schedule';
import { operatorProcedure, router, viewerProcedure } from '../trpc/init';

const errors = {
  400: 'Invalid input (the message names the field: `cron`, `timezone`, `name` or `params.<name>`)',
  401: 'No credential, or one that does not verify',
  403: 'The role is too low',
  404: 'Unknown schedule or tool',
};

const manage = 'Needs the admin role (the operator role with SCHEDULES_ROLE=operator).';

/** Operators, and then only when SCHEDULES_ROLE lets them; admins always. */
const managerProcedure = operatorProcedure.use(({ ctx, next }) => {
  ctx.services.auth.authorize(ctx.principal, ctx.services.schedules.options.manageRole);
  return next();
});

export const schedulesRouter = router({
  list: viewerProcedure
    .meta({ openapi: { method: 'GET', path: '/schedules', tags: ['schedules'], summary: 'Schedules, oldest first, with their next fire times', description: 'Needs the viewer role.', errorResponses: errors } })
    .input(z.void())
    .output(ScheduleList)
    .query(({ ctx }) => ctx.services.schedules.list()),

  get: viewerProcedure
    .meta({ openapi: { method: 'GET', path: '/schedules/{schedule_id}', tags: ['schedules'], summary: 'One schedule', description: 'Needs the viewer role.', errorResponses: errors } })
    .input(ScheduleIdInput)
    .output(ScheduleEnvelope)
    .query(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.get(input.schedule_id) })),

  preview: viewerProcedure
    .meta({ openapi: { method: 'GET', path: '/schedule-preview', tags: ['schedules'], summary: 'The next fire times of a cron expression', description: 'Checks an expression and time zone as a create would (400 naming `cron` or `timezone`). Needs the viewer role.', errorResponses: errors } })
    .input(SchedulePreviewInput)
    .output(SchedulePreview)
    .query(({ ctx, input }) => ctx.services.schedules.preview(input.cron, input.timezone)),

  create: managerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/schedules',
        tags: ['schedules'],
        summary: 'Create a schedule',
        description: `A tool and its parameters, checked as a start checks them, run at each occurrence of a cron expression read in a time zone; each run has \`requested_by: "schedule:<schedule_id>"\`. ${manage}`,
        errorResponses: { ...errors, 409: 'The tool is not available on this server, or SCHEDULES_MAX schedules exist already' },
      },
    })
    .input(CreateScheduleInput.strict())
    .output(ScheduleEnvelope)
    .mutation(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.create(input, ctx.principal.id) })),

  update: managerProcedure
    .meta({
      openapi: {
        method: 'PATCH',
        path: '/schedules/{schedule_id}',
        tags: ['schedules'],
        summary: 'Change a schedule',
        description: `Fields left out stay as they are; \`params\`, when given, replaces them whole. A new expression or time zone counts from now. ${manage}`,
        errorResponses: { ...errors, 409: 'The tool is not available on this server' },
      },
    })
    .input(UpdateScheduleInput.strict())
    .output(ScheduleEnvelope)
    .mutation(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.update(input) })),

  pause: managerProcedure
    .meta({ openapi: { method: 'POST', path: '/schedules/{schedule_id}/pause', tags: ['schedules'], summary: 'Pause a schedule', description: `Nothing fires until it is resumed; an occurrence waiting for the previous run is dropped. ${manage}`, errorResponses: errors } })
    .input(ScheduleIdInput)
    .output(ScheduleEnvelope)
    .mutation(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.pause(input.schedule_id) })),

  resume: managerProcedure
    .meta({ openapi: { method: 'POST', path: '/schedules/{schedule_id}/resume', tags: ['schedules'], summary: 'Resume a schedule', description: `It fires from its next occurrence after now: none missed while paused is made up. ${manage}`, errorResponses: errors } })
    .input(ScheduleIdInput)
    .output(ScheduleEnvelope)
    .mutation(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.resume(input.schedule_id) })),

  delete: managerProcedure
    .meta({ openapi: { method: 'DELETE', path: '/schedules/{schedule_id}', tags: ['schedules'], summary: 'Delete a schedule', description: `Its runs stay on record. Answers the schedule as it was. ${manage}`, errorResponses: errors } })
    .input(ScheduleIdInput)
    .output(ScheduleEnvelope)
    .mutation(async ({ ctx, input }) => ({ schedule: await ctx.services.schedules.remove(input.schedule_id) })),
});
