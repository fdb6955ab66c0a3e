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

export const LogTimesInput = z.object({
  run_id: RunId,
  from: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).describe('a byte offset of the log: the entries from the one in force there on'),
});
export type LogTimesInput = z.infer<typeof LogTimesInput>;

/**
 * When each part of a run's log arrived: entry i says the log's bytes from `offsets[i]` on (until the
 * next entry) arrived `elapsed_ms[i]` after the run started. A line's time is that of the last entry at
 * or before its first byte. Sparse: at most one entry per LOG_TIMES_RESOLUTION_MS.
 */
export const LogTimes = z.object({
  run_id: RunId,
  started_at: z.string().nullable().describe('when the run started (ISO 8601); null while it is queued'),
  offsets: z.array(z.number().int().min(0)).describe('byte offsets into the log, increasing'),
  elapsed_ms: z.array(z.number().int().min(0)).describe('milliseconds after started_at, one per offset'),
  log_bytes: z.number().int().min(0).describe('bytes of the log the entries cover (all that is readable now)'),
  complete: z.boolean().describe('false when the index reached LOG_TIMES_MAX_ENTRIES: output past its last entry has no time of its own'),
});
export type LogTimes = z.infer<typeof LogTimes>;

/**
 * Where a run's log stands in lines: its last whole line (of what is readable now) ends at byte
 * `offset`, and `lines` lines end there or before. A viewer numbers the log's end from it without
 * reading what comes before.
 */
export const LogLineMark = z.object({
  run_id: RunId,
  offset: z.number().int().min(0).describe('where the last whole line of the readable log ends (a byte offset; 0 when none has)'),
  lines: z.number().int().min(0).describe('lines of the log before `offset`'),
  log_bytes: z.number().int().min(0).describe('bytes of the log readable now'),
});
export type LogLineMark = z.infer<typeof LogLineMark>;
