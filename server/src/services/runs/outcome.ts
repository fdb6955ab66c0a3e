/**
 * How a run ended, from what its supervisor saw: a stop or timeout wins over the exit code; otherwise
 * the tool's `outcome` rules say what the code meant (without them, 0 is success and anything else an
 * error). Also the notes its record and log get for what went wrong on the way.
 */
import type { EndReason, Outcome, RunStatus } from '../../../../shared/src/schemas/run';
import type { RunPatch } from '../../store/runStore';
import type { ActiveRun } from './activeRun';

const now = () => new Date().toISOString();

export function outcomeOf(active: ActiveRun): { status: RunStatus; endReason: EndReason; outcome: Outcome | null } {
  const { exit } = active;
  if (!active.spawned) return { status: 'failed', endReason: 'spawn_error', outcome: null };
  if (active.stop?.reason === 'timeout') return { status: 'timed_out', endReason: 'timeout', outcome: null };
  if (active.stop?.reason === 'lost') return { status: 'lost', endReason: 'lost', outcome: null };
  if (active.stop?.reason === 'disk_limit') return { status: 'failed', endReason: 'disk_limit', outcome: null };
  if (active.stop) return { status: 'stopped', endReason: active.stop.reason, outcome: null };
  if (exit.usage?.oomKills && exit.signal === 'SIGKILL') return { status: 'failed', endReason: 'oom', outcome: 'error' };
  const endReason = exit.signal ? 'signal' : 'exit';
  const rules = active.entry.outcome ?? { success: [0], findings: [] };
  const code = exit.exitCode;
  // Output was lost (a full disk): whatever the code says, what the run produced cannot be trusted whole.
  if (active.writer?.failure) return { status: 'failed', endReason, outcome: 'error' };
  if (!exit.signal && code !== null && rules.success.includes(code)) return { status: 'succeeded', endReason, outcome: 'success' };
  if (!exit.signal && code !== null && rules.findings.includes(code)) return { status: 'succeeded', endReason, outcome: 'findings' };
  return { status: 'failed', endReason, outcome: 'error' };
}

/**
 * The run's final record. Closes its log first, after the last notes: what went over the memory limit,
 * and why the log or the run's files may be incomplete.
 */
export function finalPatch(active: ActiveRun): RunPatch {
  const { exit, limits } = active;
  let error = active.error;
  if (active.overDisk) error ??= active.overDisk;
  const oomKills = exit.usage?.oomKills ?? 0;
  if (oomKills) {
    const note = `${oomKills} process(es) killed for going over the memory limit of ${limits.memory_bytes ?? '?'} bytes`;
    active.writer?.write(Buffer.from(`oss-runner: ${note}\n`));
    if (exit.signal === 'SIGKILL') error ??= note;
  }
  const writer = active.writer;
  writer?.close();
  if (writer?.failure) {
    const why = writer.diskFull
      ? `the disk of LOG_DIR is full (${(writer.failure as NodeJS.ErrnoException).code ?? ''}): the log was cut short and the run's files may be incomplete; free space there`
      : `the log could not be written: ${writer.failure.message}`;
    error = error && !error.includes(why) ? `${error}; ${why}` : why;
  }
  if (active.stop?.reason === 'lost') error ??= 'this worker could not renew its lease (the database did not answer for FLEET_LEASE_S) and the fleet counted the run lost, so the worker ended it';

  const { status, endReason, outcome } = outcomeOf(active);
  return {
    status,
    end_reason: endReason,
    outcome,
    exit_code: exit.exitCode,
    signal: exit.signal,
    finished_at: now(),
    stopped_by: active.stop?.by ?? null,
    error,
    log_bytes: active.writer?.length ?? 0,
    log_truncated: active.writer?.truncated ?? false,
    limits,
    peak_memory_bytes: exit.usage?.peakMemoryBytes ?? null,
    cpu_time_ms: exit.usage?.cpuTimeMs ?? null,
    artifacts: active.artifacts,
    summary: active.summary,
  };
}
