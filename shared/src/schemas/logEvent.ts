import { z } from 'zod';
import { Run, RunId } from './run';

/** Log lines in order; a batch of whatever the tool wrote since the previous event. */
export const LogLines = z.object({ type: z.literal('lines'), lines: z.array(z.string()) });
/** The last event of a stream: the run has ended and every line was sent. */
export const LogEnd = z.object({ type: z.literal('end'), run: Run });

export const LogEventData = z.discriminatedUnion('type', [LogLines, LogEnd]);
export type LogEventData = z.infer<typeof LogEventData>;

/**
 * One event of a run's log stream. `id` is a position in the run's output (a byte offset, as a
 * decimal string): the same id resumes right after this event on any transport and any server.
 */
export interface LogEvent {
  id: string;
  data: LogEventData;
}

export const LogEventId = z
  .string()
  .regex(/^\d{1,15}$/, 'must be an event id received from this stream (a byte offset)');

export const LogsInput = z.object({
  run_id: RunId,
  lastEventId: LogEventId.nullish().describe('resume right after this event'),
});
export type LogsInput = z.infer<typeof LogsInput>;
