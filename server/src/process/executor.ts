/**
 * The process executor: the only module that starts processes. Each run gets an argv array (no
 * shell), a working directory, an allowlisted environment and one stream that carries its stdout
 * and stderr interleaved exactly as written (both are the same socket in the child).
 *
 * Containment: with bubblewrap each run lives in its own PID namespace, so stopping it reaches every
 * descendant (setsid and double forks included), the namespace dies with its main process, and with
 * the server (--die-with-parent), so a crash leaves nothing behind. Without bubblewrap a process
 * group is used, which a process that calls setsid escapes; /health says which is in force.
 *
 * Limits: under bubblewrap a run is also sandboxed (the system read-only, /proc/sys too, a private
 * /tmp, only its own directories writable, the server's data hidden, no capabilities, network off
 * unless the tool asks for it). In either mode it is born in its own cgroup where the machine allows
 * (memory, process count, and the usage recorded on the run), and CPU time and file size are rlimits
 * set by prlimit(1).
 *
 * Forks: the server never forks a tool itself. A small helper process (spawnHelperProcess.ts), started
 * once, does, so a start costs the server's event loop a message rather than a copy of its page
 * tables; the helper dies with the server, and everything it started with it.
 *
 * Privileges: a tool never holds the server's root. When the server runs as root, setpriv(1) makes
 * the tool RUN_AS_USER, with no other groups and no_new_privs, as the last step before it starts:
 * after the cgroup is joined and the rlimits set (which need root), and inside the sandbox, which
 * bubblewrap sets up as root (so LOG_DIR keeps its modes). Only entries marked run_as_root keep root.
 *
 * The files of this module, by what they do: BaseExecutor.ts (a run's life and its stop),
 * PidNamespaceExecutor.ts and ProcessGroupExecutor.ts (the two isolations), sandbox.ts (bubblewrap's
 * command line), privileges.ts (who tools run as), rlimits.ts (prlimit), cgroups.ts (memory, process
 * count, usage), outputChannel.ts (the output socket), SpawnHelper.ts (the helper that forks), procfs.ts.
 */
import type { Capabilities } from '../../../shared/src/schemas/health';
import type { ProcessHandle } from '../store/runStore';
import type { CgroupProbe, CgroupUsage } from './cgroups';
import { PidNamespaceExecutor } from './PidNamespaceExecutor';
import { privilegeCapabilities, probeIdentity } from './privileges';
import { systemProgram } from './probe';
import { processStartTicks, signal } from './procfs';
import { ProcessGroupExecutor } from './ProcessGroupExecutor';
import { rlimitCapabilities } from './rlimits';
import { probeBubblewrap } from './sandbox';
import { SpawnHelper } from './SpawnHelper';

export type Isolation = 'pid-namespace' | 'process-group';

/** A user and group id that tools run as. */
export interface ToolUser {
  uid: number;
  gid: number;
}

/** The limits a run is held to; null is no limit. Callers pass only what the executor can enforce. */
export interface SpawnLimits {
  memoryBytes: number | null;
  pids: number | null;
  cpuS: number | null;
  fileBytes: number | null;
}

export interface SandboxSpec {
  network: boolean;
  /** Made writable inside the sandbox (the run's own directories). */
  writable: string[];
  /** Kept readable even where the private /tmp covers them (the project's own tools, a path parameter's roots). */
  readable: string[];
  /** Directories replaced by an empty one (the server's data), and files replaced by an empty one (.env). */
  hiddenDirs: string[];
  hiddenFiles: string[];
}

export interface SpawnSpec {
  /** Names the run's cgroup. */
  runId: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  limits: SpawnLimits;
  sandbox: SandboxSpec;
  /** The entry is marked run_as_root: it keeps the server's user, root included. */
  runAsRoot: boolean;
}

export interface ExitStatus {
  exitCode: number | null;
  signal: string | null;
  /** What the run used, where it had a cgroup. */
  usage: CgroupUsage | null;
}

export interface RunningProcess {
  readonly handle: ProcessHandle;
  /**
   * Hands each piece of output (stdout and stderr, interleaved as written) to `onChunk`, in one
   * buffer reused for the whole run: a chunk is valid only during the call. Settles when no process
   * of the run holds the output open any more, or when closeOutput() is called.
   */
  readOutput(onChunk: (chunk: Buffer) => void): Promise<void>;
  closeOutput(): void;
  /** Settles when the run's main process has exited and its other processes were killed. */
  readonly exited: Promise<ExitStatus>;
  /** SIGTERM to every process of the run, then SIGKILL to all after `graceMs`. Resolves once exited. */
  terminate(graceMs: number): Promise<ExitStatus>;
}

export interface ProcessExecutor {
  readonly isolation: Isolation;
  readonly capabilities: Capabilities;
  /** The user tools run as in place of a server that runs as root; null when they run as the server's own user. */
  readonly runAs: ToolUser | null;
  /** Rejects when the program cannot be started at all. */
  spawn(spec: SpawnSpec): Promise<RunningProcess>;
  /** At shutdown, once no run is left: releases what the executor holds (its cgroups, its spawn helper). */
  close(): void;
}

/**
 * After a crash: kills whatever still runs of a recorded run (a PID since reused is left alone).
 * In a PID namespace killing bubblewrap takes the whole namespace with it; a process group is
 * killed as a group.
 */
export function killLeftover(handle: ProcessHandle): void {
  if (processStartTicks(handle.pid) !== handle.startTicks) return;
  signal(handle.isolation === 'process-group' ? -handle.pid : handle.pid, 'SIGKILL');
}

export interface ExecutorChoice {
  executor: ProcessExecutor;
  /** Why the PID namespace is not used, when it is not. */
  fallbackReason: string | null;
}

/** A run's disk use is measured by the run service (a walk of its directories), which works on any file system. */
const DISK_WATCH = { enforced: true, how: 'the work and artifact directories measured together every few seconds (a du-like walk); over the limit the run is stopped' } as const;

export interface ExecutorOptions {
  preference: 'auto' | Isolation;
  probeCgroups: () => CgroupProbe;
  /** Who tools run as when the server runs as root (RUN_AS_USER). */
  runAs: ToolUser;
  /** Start the spawn helper now (where tools run), not at the first run. */
  startHelper: boolean;
  /** What the spawn helper's exits and restarts are told to. */
  log: { warn: (message: string) => void; info: (message: string) => void };
}

export function createExecutor({ preference, probeCgroups, runAs, startHelper, log }: ExecutorOptions): ExecutorChoice {
  const identity = probeIdentity(runAs);
  const helper = new SpawnHelper({ setpriv: systemProgram('setpriv'), ...log });
  if (startHelper) helper.start();
  const { cgroups, problems } = probeCgroups();
  cgroups?.sweep();
  const controller = (name: 'memory' | 'pids') =>
    cgroups?.[name]
      ? ({ enforced: true, how: `cgroup ${cgroups.version} ${name} controller` } as const)
      : ({ enforced: false, reason: problems[name] ?? problems.cgroups ?? 'unavailable' } as const);
  const limits = { memory: controller('memory'), pids: controller('pids'), ...rlimitCapabilities(), disk: DISK_WATCH };
  const problem = preference === 'process-group' ? 'PROCESS_ISOLATION=process-group' : probeBubblewrap(identity.switchUser);
  if (!problem) {
    const capabilities: Capabilities = {
      sandbox: { enforced: true, how: 'bubblewrap: read-only system, private /tmp, only the run directory writable, no capabilities' },
      network_off: { enforced: true, how: 'bubblewrap: a network namespace with loopback only' },
      ...limits,
      ...privilegeCapabilities('pid-namespace', identity),
    };
    return { executor: new PidNamespaceExecutor({ bwrap: 'bwrap', cgroups, identity, helper, capabilities }), fallbackReason: null };
  }
  if (preference === 'pid-namespace') throw new Error(`PROCESS_ISOLATION=pid-namespace, but ${problem}`);
  const needsSandbox = { enforced: false, reason: `needs bubblewrap: ${problem}` } as const;
  const capabilities: Capabilities = { sandbox: needsSandbox, network_off: needsSandbox, ...limits, ...privilegeCapabilities('process-group', identity) };
  return { executor: new ProcessGroupExecutor({ cgroups, identity, helper, capabilities }), fallbackReason: problem };
}
