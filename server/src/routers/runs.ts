import { tracked, TRPCError } from '@trpc/server';
import { z } from 'zod';
import { LogLineMark, LogsInput, LogTimes, LogTimesInput } from '../../../shared/src/schemas/logEvent';
import { runLogTimes } from '../services/arrivalTimes';
import { runLineMark } from '../services/lineMarks';
import type { Context } from '../trpc/context';
import { IdempotencyKey, RunEnvelope, RunIdInput, RunList, RunListInput, StartRunInput } from '../../../shared/src/schemas/run';
import { LogToken } from '../../../shared/src/schemas/auth';
import { guardStream, operatorProcedure, router, viewerProcedure } from '../trpc/init';
import { frameOf } from '../trpc/logFrames';

/** Ends when `stop` aborts: the client went, its credential stopped verifying, or the server shuts down (the client then resumes elsewhere from its last id). */
async function* streamLogs(ctx: Context, input: LogsInput, stop: AbortSignal) {
  await ctx.services.runs.get(input.run_id);
  const from = input.lastEventId ? Number(input.lastEventId) : 0;
  for await (const event of ctx.services.logs.events({ runId: input.run_id, from, signal: stop, transport: ctx.transport })) {
    await ctx.waitForDrain(stop);
    yield tracked(event.id, frameOf(event));
  }
}

const errors = {
  400: 'Invalid input (the message names the field)',
  401: 'No credential, or one that does not verify',
  403: 'The role is too low',
  404: 'Unknown tool or run',
};

const needs = (role: string) => `Needs the ${role} role.`;

export const runsRouter = router({
  start: operatorProcedure
    .use(async ({ ctx, next }) => {
      await ctx.services.auth.countStart(ctx.principal);
      return next();
    })
    .meta({
      openapi: {
        method: 'POST',
        path: '/set/{name}',
        tags: ['runs'],
        summary: 'Start a run of a catalog tool',
        description: `The body is optional: \`curl -X POST\` with no body starts the tool with no parameters. An \`Idempotency-Key\` header makes a retry safe: the same key from the same credential answers the same run for 24 hours (409 if it is reused for another tool or other parameters; a start answered 503 keeps no key). ${needs('operator')}`,
        requestHeaders: z.object({ 'Idempotency-Key': IdempotencyKey.optional() }),
        errorResponses: {
          ...errors,
          409: 'The tool is not available on this server, or the Idempotency-Key was used for another start',
          413: 'Body too large',
          415: 'Body is not JSON',
          429: 'Too many starts with this credential, or too many failed authentications from this address (see Retry-After)',
        },
      },
    })
    .input(StartRunInput.strict())
    .output(RunEnvelope)
    .mutation(async ({ ctx, input }) => {
      const key = IdempotencyKey.optional().safeParse(ctx.idempotencyKey ?? undefined);
      if (!key.success) throw new TRPCError({ code: 'BAD_REQUEST', message: `Idempotency-Key: ${key.error.issues[0]?.message ?? 'invalid'}` });
      return { run: await ctx.services.runs.start(input, ctx.principal.id, key.data) };
    }),

  list: viewerProcedure
    .meta({ openapi: { method: 'GET', path: '/runs', tags: ['runs'], summary: 'Runs, newest first', description: needs('viewer'), errorResponses: errors } })
    .input(RunListInput)
    .output(RunList)
    .query(({ ctx, input }) => ctx.services.runs.list(input)),

  get: viewerProcedure
    .meta({ openapi: { method: 'GET', path: '/runs/{run_id}', tags: ['runs'], summary: 'One run', description: needs('viewer'), errorResponses: errors } })
    .input(RunIdInput)
    .output(RunEnvelope)
    .query(async ({ ctx, input }) => ({ run: await ctx.services.runs.get(input.run_id) })),

  stop: operatorProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/runs/{run_id}/stop',
        tags: ['runs'],
        summary: 'Stop a queued or running run',
        description: `SIGTERM to every process of the run, SIGKILL after STOP_GRACE_S; answers once the run has ended, as \`stopped\`. ${needs('operator')}`,
        errorResponses: { ...errors, 409: 'The run has already ended' },
      },
    })
    .input(RunIdInput)
    .output(RunEnvelope)
    .mutation(async ({ ctx, input }) => ({ run: await ctx.services.runs.stop(input.run_id, ctx.principal.id) })),

  logToken: viewerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/runs/{run_id}/log-token',
        tags: ['runs'],
        summary: 'A short-lived token for reading one run’s log from a browser',
        description: `EventSource cannot send headers: pass the token as \`?access_token=\` to /runs/{run_id}/logs or /runs/{run_id}/log. It is good for that run only, for LOG_TOKEN_TTL_S seconds, and only while the credential that asked for it is not revoked. ${needs('viewer')}`,
        errorResponses: errors,
      },
    })
    .input(RunIdInput)
    .output(LogToken)
    .mutation(async ({ ctx, input }) => {
      await ctx.services.runs.get(input.run_id);
      return ctx.services.logTokens.issue(input.run_id, ctx.principal);
    }),

  logTimes: viewerProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/runs/{run_id}/log-times',
        tags: ['runs'],
        summary: 'When each part of a run’s log arrived',
        description: `A sparse index over the log's bytes (GET /runs/{run_id}/log): entry i says the bytes from \`offsets[i]\` on arrived \`elapsed_ms[i]\` after the run started, until the next entry; a line's time is that of the last entry at or before its first byte. \`from\` answers the entries from the one in force at that byte on (a running run's client asks for what is new). At most one entry per LOG_TIMES_RESOLUTION_MS. ${needs('viewer')}`,
        errorResponses: errors,
      },
    })
    .input(LogTimesInput)
    .output(LogTimes)
    .query(({ ctx, input }) => runLogTimes(ctx.services.runs, input.run_id, input.from)),

  logLines: viewerProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/runs/{run_id}/log-lines',
        tags: ['runs'],
        summary: 'Where a run’s log stands in lines',
        description: `The end of the last whole line of what of the log is readable now (a byte offset into GET /runs/{run_id}/log), and how many lines come before it, split as the stream splits them (\\n, \\r\\n or a lone \\r). A viewer reads the log's end from there and numbers its lines without reading what comes before. ${needs('viewer')}`,
        errorResponses: errors,
      },
    })
    .input(RunIdInput)
    .output(LogLineMark)
    .query(({ ctx, input }) => runLineMark(ctx.services.runs, input.run_id)),

  /** Every run as it is created, starts and ends: for lists that update live. */
  onChange: viewerProcedure.subscription(({ ctx, signal }) => guardStream(ctx, signal, (stop) => ctx.services.runs.changes(stop))),

  /** The run's log, live: tracked events whose ids are byte offsets; ends with the final run. */
  logs: viewerProcedure.input(LogsInput).subscription(({ ctx, input, signal }) => guardStream(ctx, signal, (stop) => streamLogs(ctx, input, stop))),
});
