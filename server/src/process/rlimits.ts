/** CPU time and file size, the limits a run gets as rlimits from prlimit(1) (memory and process count are its cgroup's). */
import type { Capabilities } from '../../../shared/src/schemas/health';
import type { SpawnLimits } from './executor';
import { probe } from './probe';

/** prlimit(1) arguments for the rlimits: CPU seconds (SIGXCPU at the limit, SIGKILL a second later) and file size. */
export function rlimitArgs(limits: SpawnLimits): string[] {
  const args: string[] = [];
  if (limits.cpuS) args.push(`--cpu=${limits.cpuS}:${limits.cpuS + 1}`);
  if (limits.fileBytes) args.push(`--fsize=${limits.fileBytes}:${limits.fileBytes}`);
  return args.length ? ['prlimit', ...args, '--'] : [];
}

/** What prlimit(1) can set here, shared by both executors. */
export function rlimitCapabilities(): Pick<Capabilities, 'cpu_time' | 'file_size'> {
  const problem = probe('prlimit', ['--cpu=10:11', '--fsize=1000000:1000000', '--', 'true']);
  if (problem) return { cpu_time: { enforced: false, reason: `prlimit: ${problem}` }, file_size: { enforced: false, reason: `prlimit: ${problem}` } };
  return { cpu_time: { enforced: true, how: 'RLIMIT_CPU per process (prlimit)' }, file_size: { enforced: true, how: 'RLIMIT_FSIZE (prlimit)' } };
}
