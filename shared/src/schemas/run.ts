import { z } from 'zod';
import { RUN_STATUSES } from './enums';
import { Cursor } from './page';
import { RunSummary } from './summary';

export { FINAL_STATUSES, isFinal } from './enums';

export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;

/** Why a run ended, recorded beside its status. */
export const EndReason = z.enum(['exit', 'signal', 'oom', 'stopped', 'timeout', 'lost', 'spawn_error', 'shutdown', 'disk_limit']);
export type EndReason = z.infer<typeof EndReason>;

/** What a finished run's exit code meant, per the tool's `outcome` rules (null when it did not exit). */
export const Outcome = z.enum(['success', 'findings', 'error']);
export type Outcome = z.infer<typeof Outcome>;

export const RunId = z.string().min(1).max(128).describe('the run id');

const Timestamp = z.iso.datetime({ offset: true });

const limit = z.number().int().positive().nullable();

/** The limits a run was held to, fixed when it started; null where none was enforced. */
export const RunLimits = z
  .object({
    memory_bytes: limit.describe('memory of all its processes together (cgroup); over it the kernel kills the largest'),
    pids: limit.describe('processes and threads at once (cgroup)'),
    cpu_s: limit.describe('CPU seconds per process (RLIMIT_CPU: SIGXCPU, then SIGKILL)'),
    file_bytes: limit.describe('largest file it may write (RLIMIT_FSIZE: SIGXFSZ)'),
    disk_bytes: limit.optional().describe('disk space its work and artifact directories may take together (measured every few seconds; over it the run is stopped, end_reason disk_limit)'),
    log_bytes: z.number().int().positive().describe('log cap: past it the head and tail are kept'),
    network: z.boolean().describe('whether it could reach the network (false: loopback only, in its own namespace)'),
    sandbox: z.boolean().describe('read-only system, private /tmp, only its own directories writable'),
  })
  .meta({ id: 'RunLimits' });
export type RunLimits = z.infer<typeof RunLimits>;

/** A file a run left in its artifact directory that its tool declares. */
export const Artifact = z
  .object({
    name: z.string(),
    size: z.number().int().nonnegative(),
    sha256: z.string(),
    type: z.string().describe('its media type'),
    url: z.string().nullable().describe('a presigned link to the copy in S3 (expires), when S3 is configured'),
  })
  .meta({ id: 'Artifact' });
export type Artifact = z.infer<typeof Artifact>;

export const Run = z
  .object({
    run_id: RunId,
    name: z.string().describe('the catalog tool that was run'),
    cmd: z.array(z.string()).describe('the argv that was executed, without any shell'),
    params: z.record(z.string(), z.unknown()),
    status: RunStatus,
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable().describe('the signal that ended the process, such as SIGKILL'),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
    requested_by: z.string().nullable(),
    stopped_by: z.string().nullable(),
    end_reason: EndReason.nullable(),
    outcome: Outcome.nullable(),
    error: z.string().nullable().describe('why the run could not start or went wrong, for people'),
    log_bytes: z.number().int().nonnegative(),
    log_truncated: z.boolean().describe('output was left out of the log to keep it under its cap (MAX_LOG_BYTES or the tool\'s limits.log_bytes)'),
    limits: RunLimits.nullable().describe('what the run was held to (null until it starts)'),
    peak_memory_bytes: z.number().int().nonnegative().nullable().describe('the most memory its processes used at once (null without a cgroup)'),
    cpu_time_ms: z.number().int().nonnegative().nullable().describe('CPU time of all its processes (null without a cgroup)'),
    artifacts: z.array(Artifact).describe('the declared files it left, once it has ended: GET /runs/{run_id}/artifacts/{name}'),
    summary: RunSummary.nullable().describe('what its report artifacts say, once it has ended (tools that declare reports)'),
    archived_at: Timestamp.nullable().describe('when the final log, artifacts and metadata were uploaded to S3'),
    archive_error: z.string().nullable().describe('why uploading to S3 failed (the local copies are kept)'),
    log_url: z.string().nullable().describe('a presigned link to the final log in S3 (expires), once archived'),
  })
  .meta({ id: 'Run' });
export type Run = z.infer<typeof Run>;

export const RunEnvelope = z.object({ run: Run });
export type RunEnvelope = z.infer<typeof RunEnvelope>;

export const RunIdInput = z.object({ run_id: RunId });

export const StartRunInput = z.object({
  name: z.string().min(1).max(128).describe('the catalog tool to run'),
  params: z
    .preprocess((value, ctx) => {
      // JSON.parse makes "__proto__" an own key, which a plain copy would turn into a prototype:
      // refuse it like any other unknown parameter.
      if (value !== null && typeof value === 'object' && Object.hasOwn(value, '__proto__')) {
        ctx.issues.push({ code: 'custom', message: 'unknown parameter', path: ['__proto__'], input: value });
      }
      return value;
    }, z.record(z.string(), z.unknown()))
    .optional()
    .describe('the tool parameters (see the tool in GET /opensource-list)'),
});
export type StartRunInput = z.infer<typeof StartRunInput>;

/** The Idempotency-Key header of a start (HTTP only). */
export const IdempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 visible ASCII characters')
  .describe('retries with the same key from the same credential get the same run, for 24 hours');

export const RUN_LIST_MAX = 500;

export const RunListInput = z.object({
  status: RunStatus.optional(),
  name: z.string().min(1).max(128).optional(),
  // Declared coerced so REST query strings and tRPC numbers behave alike from the first call.
  limit: z.coerce.number().int().min(1).max(RUN_LIST_MAX).default(50),
  cursor: Cursor.optional(),
});
export type RunListInput = z.input<typeof RunListInput>;

export const RunList = z.object({
  items: z.array(Run),
  next_cursor: z.string().nullable(),
});
export type RunList = z.infer<typeof RunList>;
