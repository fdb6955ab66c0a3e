import { z } from 'zod';
import { FleetCounts } from './fleet';
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

/**
 * What the server can hold a run to on this machine, probed at start-up. The last four keep a tool from
 * the server's privileges: `unprivileged` (it never runs as root, but for entries marked `run_as_root`),
 * `no_new_privs` (set-user-ID programs and file capabilities grant it nothing), `kernel_read_only`
 * (/proc/sys and /sys cannot be written) and `server_protected` (it cannot signal, trace or read the server).
 */
export const Capability = z.enum(['sandbox', 'network_off', 'memory', 'pids', 'cpu_time', 'file_size', 'disk', 'unprivileged', 'no_new_privs', 'kernel_read_only', 'server_protected']);
export type Capability = z.infer<typeof Capability>;

export const Enforcement = z.discriminatedUnion('enforced', [
  z.object({ enforced: z.literal(true), how: z.string() }),
  z.object({ enforced: z.literal(false), reason: z.string().describe('why not; a tool that requires it is refused') }),
]);
/** One entry per capability, each a property of its own (a record over an enum documents no properties). */
export const Capabilities = z.object({
  sandbox: Enforcement,
  network_off: Enforcement,
  memory: Enforcement,
  pids: Enforcement,
  cpu_time: Enforcement,
  file_size: Enforcement,
  disk: Enforcement,
  unprivileged: Enforcement,
  no_new_privs: Enforcement,
  kernel_read_only: Enforcement,
  server_protected: Enforcement,
} satisfies Record<Capability, unknown>);
export type Capabilities = z.infer<typeof Capabilities>;

export const Health = z.object({
  status: z.literal('ok'),
  app_name: z.string(),
  version: z.string(),
  uptime_s: z.number(),
  runs: RunCounts.nullable().describe('null while the database does not answer (/ready says so too)'),
  process_isolation: z
    .enum(['pid-namespace', 'process-group'])
    .describe('how a run is contained: a PID namespace (bubblewrap) kills every descendant; a process group can be escaped with setsid'),
  limits: Capabilities.describe('each limit and protection a run can be given here, and how, or why not'),
  log_dir: z.object({ free_bytes: z.number().int().nonnegative(), total_bytes: z.number().int().nonnegative() }).describe('space on the file system of LOG_DIR'),
  fleet: FleetCounts.nullable().optional().describe('on a fleet (REDIS_URL): API nodes and workers alive, runs waiting in the queues; null while the database does not answer'),
});
export type Health = z.infer<typeof Health>;

const Check = z.object({ ok: z.boolean(), error: z.string().nullable() });

/** GET /ready: 200 when every check passes, 503 otherwise. */
export const Readiness = z.object({
  ready: z.boolean(),
  stopping: z.boolean().optional().describe('true once the server has begun to shut down'),
  checks: z.object({
    database: Check,
    log_dir_writable: Check,
    disk: Check.extend({ free_bytes: z.number().int().nonnegative(), total_bytes: z.number().int().nonnegative(), min_free_bytes: z.number().int().nonnegative() }),
  }),
});
export type Readiness = z.infer<typeof Readiness>;
