import { z } from 'zod';
import type { RunStatus } from './run';

const count = z.number().int().nonnegative();
export const RunCounts = z.object({
  total: count,
  queued: count,
  running: count,
  succeeded: count,
  failed: count,
  stopped: count,
  timed_out: count,
  lost: count,
} satisfies Record<'total' | RunStatus, unknown>);
export type RunCounts = z.infer<typeof RunCounts>;

export const Health = z.object({
  status: z.literal('ok'),
  app_name: z.string(),
  version: z.string(),
  uptime_s: z.number(),
  runs: RunCounts,
  process_isolation: z
    .enum(['pid-namespace', 'process-group'])
    .describe('how a run is contained: a PID namespace (bubblewrap) kills every descendant; a process group can be escaped with setsid'),
});
export type Health = z.infer<typeof Health>;
