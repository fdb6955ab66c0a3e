import { tracked } from '@trpc/server';
import { LogsInput } from '../../../shared/src/schemas/logEvent';
import type { Context } from '../trpc/context';
import { RunEnvelope, RunIdInput, RunList, RunListInput, StartRunInput } from '../../../shared/src/schemas/run';
import { mapStreamErrors, publicProcedure, router } from '../trpc/init';

async function* streamLogs(ctx: Context, input: LogsInput, signal: AbortSignal | undefined) {
  await ctx.services.runs.get(input.run_id);
  const from = input.lastEventId ? Number(input.lastEventId) : 0;
  const stop = signal ?? new AbortController().signal;
  for await (const event of ctx.services.logs.events(input.run_id, from, stop)) {
    await ctx.waitForDrain(stop);
    yield tracked(event.id, event.data);
  }
}

const errors = { 400: 'Invalid input (the message names the field)', 404: 'Unknown tool or run' };

export const runsRouter = router({
  start: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/set/{name}',
        tags: ['runs'],
        summary: 'Start a run of a catalog tool',
        description: 'The body is optional: `curl -X POST` with no body starts the tool with no parameters.',
        errorResponses: { ...errors, 409: 'The tool is not available on this server', 413: 'Body too large', 415: 'Body is not JSON' },
      },
    })
    .input(StartRunInput.strict())
    .output(RunEnvelope)
    .mutation(async ({ ctx, input }) => ({ run: await ctx.services.runs.start(input, ctx.principal) })),

  list: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/runs', tags: ['runs'], summary: 'Runs, newest first', errorResponses: { 400: errors[400] } } })
    .input(RunListInput)
    .output(RunList)
    .query(({ ctx, input }) => ctx.services.runs.list(input)),

  get: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/runs/{run_id}', tags: ['runs'], summary: 'One run', errorResponses: { 404: 'Unknown run' } } })
    .input(RunIdInput)
    .output(RunEnvelope)
    .query(async ({ ctx, input }) => ({ run: await ctx.services.runs.get(input.run_id) })),

  stop: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/runs/{run_id}/stop',
        tags: ['runs'],
        summary: 'Stop a queued or running run',
        description: 'SIGTERM to every process of the run, SIGKILL after STOP_GRACE_S; answers once the run has ended, as `stopped`.',
        errorResponses: { 404: 'Unknown run', 409: 'The run has already ended' },
      },
    })
    .input(RunIdInput)
    .output(RunEnvelope)
    .mutation(async ({ ctx, input }) => ({ run: await ctx.services.runs.stop(input.run_id, ctx.principal) })),

  /** The run's log, live: tracked events whose ids are byte offsets; ends with the final run. */
  logs: publicProcedure.input(LogsInput).subscription(({ ctx, input, signal }) => mapStreamErrors(streamLogs(ctx, input, signal))),
});
