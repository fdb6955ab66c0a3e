/**
 * A run's life, whichever isolation holds it: born in its cgroup through the spawn helper, its output
 * on its own channel, its exit status read alike in both modes, and a stop that is SIGTERM, a grace,
 * then SIGKILL to every process of the run. Which processes those are, and the command line that
 * starts the tool, are the isolation's own (PidNamespaceExecutor, ProcessGroupExecutor).
 */
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Capabilities } from '../../../shared/src/schemas/health';
import type { ProcessHandle } from '../store/runStore';
import type { Cgroups, RunCgroup } from './cgroups';
import type { ExitStatus, Isolation, ProcessExecutor, RunningProcess, SpawnSpec, ToolUser } from './executor';
import { outputChannel } from './outputChannel';
import type { Identity } from './privileges';
import { rlimitArgs } from './rlimits';
import type { HelperChild, SpawnHelper } from './SpawnHelper';

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

async function exitStatusOf(child: HelperChild, isolation: Isolation): Promise<ExitStatus> {
  const { code, signal: sig } = await child.exit;
  // bubblewrap reports a child killed by a signal the way shells do, 128 + the signal number;
  // the process-group executor reports it the same way, so both read alike.
  if (isolation === 'pid-namespace' && code !== null && code > 128 && SIGNAL_NAMES.has(code - 128)) {
    return { exitCode: code, signal: SIGNAL_NAMES.get(code - 128) ?? null, usage: null };
  }
  if (sig) return { exitCode: 128 + (constants.signals[sig] ?? 0), signal: sig, usage: null };
  return { exitCode: code, signal: null, usage: null };
}

/** The program the spawn helper starts for a run, and whether in a process group of its own. */
export interface Command {
  file: string;
  args: string[];
  detached: boolean;
}

/** What an executor is made of, probed once at start-up (createExecutor). */
export interface ExecutorParts {
  /** The machine's cgroups, where runs can have their own; null where they cannot. */
  cgroups: Cgroups | null;
  identity: Identity;
  helper: SpawnHelper;
  /** What this executor enforces here, as /health reports it. */
  capabilities: Capabilities;
}

export abstract class BaseExecutor implements ProcessExecutor {
  abstract readonly isolation: Isolation;
  readonly capabilities: Capabilities;
  protected readonly identity: Identity;
  private readonly cgroups: Cgroups | null;
  private readonly helper: SpawnHelper;
  protected abstract command(spec: SpawnSpec): Command;

  constructor({ cgroups, identity, helper, capabilities }: ExecutorParts) {
    this.cgroups = cgroups;
    this.identity = identity;
    this.helper = helper;
    this.capabilities = capabilities;
  }

  get runAs(): ToolUser | null {
    return this.identity.runAs;
  }

  /** The setpriv prefix that makes a run's tool RUN_AS_USER; [] when it keeps the server's user. */
  protected switchUser(spec: SpawnSpec): string[] {
    return spec.runAsRoot ? [] : this.identity.switchUser;
  }

  close(): void {
    this.cgroups?.close();
    this.helper.close();
  }
  /** Sends `sig` to every process of the run. */
  protected abstract signalAll(child: HelperChild, sig: NodeJS.Signals): void | Promise<void>;

  async spawn(spec: SpawnSpec): Promise<RunningProcess> {
    // Behind the catalog's check (a queued run may predate a restart): never root for a tool that did not ask.
    if (this.identity.refusal && !spec.runAsRoot) throw new Error(this.identity.refusal);
    const cgroup = (await this.cgroups?.create(spec.runId, { memoryBytes: spec.limits.memoryBytes ?? undefined, pids: spec.limits.pids ?? undefined })) ?? null;
    try {
      return await this.spawnIn(spec, cgroup);
    } catch (e) {
      await cgroup?.remove().catch(() => undefined);
      throw e;
    }
  }

  private async spawnIn(spec: SpawnSpec, cgroup: RunCgroup | null): Promise<RunningProcess> {
    const { childEnd, ourEnd, setReader } = await outputChannel();
    const { file, args, detached } = this.command(spec);
    const argv = [...rlimitArgs(spec.limits), file, ...args];
    const [program = file, ...rest] = cgroup ? cgroup.wrap(argv) : argv;
    let child: HelperChild;
    try {
      child = await this.helper.spawn({ file: program, args: rest, cwd: spec.cwd, env: spec.env, detached }, childEnd);
    } catch (e) {
      ourEnd.destroy();
      throw e;
    } finally {
      childEnd.destroy(); // the helper passed it on to the tool
    }
    const handle: ProcessHandle = { isolation: this.isolation, pid: child.pid, startTicks: child.startTicks };
    // A process group left behind by its leader is killed by the helper, as it reaps the leader.
    const exited = exitStatusOf(child, this.isolation).then(
      async (status) => {
        if (!cgroup) return status;
        const usage = await cgroup.usage();
        await cgroup.remove().catch(() => undefined);
        return { ...status, usage };
      },
      async (e: unknown) => {
        // The helper died: its run's processes were killed by their parent's death, but a sandbox's
        // namespace init can miss that signal; the cgroup still holds all of them.
        if (cgroup) await cgroup.killAll().then(() => cgroup.remove()).catch(() => undefined);
        throw e;
      },
    );
    exited.catch(() => ourEnd.destroy());
    let terminating: Promise<ExitStatus> | undefined;
    const terminate = (graceMs: number) =>
      (terminating ??= (async () => {
        await this.signalAll(child, 'SIGTERM');
        const done = await Promise.race([exited, sleep(graceMs).then(() => null)]);
        if (done) return done;
        await this.signalAll(child, 'SIGKILL');
        return exited;
      })());
    const outputClosed = new Promise<void>((resolve) => ourEnd.once('close', () => resolve()));
    ourEnd.on('error', () => ourEnd.destroy());
    const readOutput = (onChunk: (chunk: Buffer) => void) => {
      setReader(onChunk);
      return outputClosed;
    };
    return { handle, readOutput, closeOutput: () => ourEnd.destroy(), exited, terminate };
  }
}
