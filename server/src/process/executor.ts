/**
 * The process executor: the only module that starts processes. Each run gets an argv array (no
 * shell), a working directory, an allowlisted environment and one stream that carries its stdout
 * and stderr interleaved exactly as written (both are the same socket in the child).
 *
 * Containment: with bubblewrap each run lives in its own PID namespace, so stopping it reaches every
 * descendant (setsid and double forks included), the namespace dies with its main process, and with
 * the server (--die-with-parent), so a crash leaves nothing behind. Without bubblewrap a process
 * group is used, which a process that calls setsid escapes; /health says which is in force.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { ProcessHandle } from '../store/runStore';
import { childPids, pidNamespace, pidsInNamespace, processStartTicks, signal } from './procfs';

export type Isolation = 'pid-namespace' | 'process-group';

export interface SpawnSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface ExitStatus {
  exitCode: number | null;
  signal: string | null;
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
  /** Rejects when the program cannot be started at all. */
  spawn(spec: SpawnSpec): Promise<RunningProcess>;
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

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** Bytes read from a run's output at once, into one buffer for the whole run: no garbage per read. */
const OUTPUT_READ_BYTES = 64 * 1024;

interface OutputChannel {
  childEnd: net.Socket;
  ourEnd: net.Socket;
  /** Where the bytes read go; reading waits until there is one. */
  setReader: (onChunk: (chunk: Buffer) => void) => void;
}

/** One connected pair of Unix sockets: the child writes stdout and stderr to one end, we read the other. */
async function outputChannel(): Promise<OutputChannel> {
  const server = net.createServer({ pauseOnConnect: true });
  const address = `\0oss-runner-${randomUUID()}`; // abstract namespace: no file, gone when closed
  server.listen(address);
  await once(server, 'listening');
  let reader: ((chunk: Buffer) => void) | undefined;
  const buffer = Buffer.allocUnsafe(OUTPUT_READ_BYTES);
  const ourEnd = net.connect({
    path: address,
    onread: {
      buffer,
      callback: (n) => {
        reader?.(buffer.subarray(0, n));
        return true;
      },
    },
  });
  ourEnd.pause();
  const [[childEnd]] = (await Promise.all([once(server, 'connection'), once(ourEnd, 'connect')])) as [[net.Socket], unknown];
  server.close();
  return {
    childEnd,
    ourEnd,
    setReader: (onChunk) => {
      reader = onChunk;
      ourEnd.resume();
    },
  };
}

function exitStatusOf(child: ChildProcess, isolation: Isolation): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      // bubblewrap reports a child killed by a signal the way shells do, 128 + the signal number;
      // the process-group executor reports it the same way, so both read alike.
      if (isolation === 'pid-namespace' && code !== null && code > 128 && SIGNAL_NAMES.has(code - 128)) {
        resolve({ exitCode: code, signal: SIGNAL_NAMES.get(code - 128) ?? null });
      } else if (sig) resolve({ exitCode: 128 + (constants.signals[sig] ?? 0), signal: sig });
      else resolve({ exitCode: code, signal: null });
    });
  });
}

abstract class BaseExecutor implements ProcessExecutor {
  abstract readonly isolation: Isolation;
  protected abstract command(spec: SpawnSpec): { file: string; args: string[]; detached: boolean };
  /** Sends `sig` to every process of the run. */
  protected abstract signalAll(child: ChildProcess, sig: NodeJS.Signals): void | Promise<void>;
  /** Called once the main process has exited: nothing of the run may outlive it. */
  protected abstract reap(child: ChildProcess): void;

  async spawn(spec: SpawnSpec): Promise<RunningProcess> {
    const { childEnd, ourEnd, setReader } = await outputChannel();
    const { file, args, detached } = this.command(spec);
    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', childEnd, childEnd], detached, shell: false });
    } finally {
      childEnd.destroy();
    }
    const pid = child.pid;
    if (pid === undefined) {
      ourEnd.destroy();
      const [error] = (await once(child, 'error')) as [Error];
      throw error;
    }
    const handle: ProcessHandle = { isolation: this.isolation, pid, startTicks: processStartTicks(pid) ?? '' };
    const exited = exitStatusOf(child, this.isolation).finally(() => this.reap(child));
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

/** How long a SIGTERM waits for bubblewrap to have started the tool in its namespace. */
const NAMESPACE_WAIT_MS = 1000;

/** Each run in its own PID namespace under bubblewrap: nothing escapes it, nothing outlives it. */
class PidNamespaceExecutor extends BaseExecutor {
  readonly isolation = 'pid-namespace';

  constructor(private readonly bwrap: string) {
    super();
  }

  protected command(spec: SpawnSpec) {
    // The whole file system stays as it is (sandboxing is a separate, per-tool matter); what bwrap
    // adds is the PID namespace, a /proc that shows only the run, and death with its parent.
    const args = ['--dev-bind', '/', '/', '--unshare-pid', '--die-with-parent', '--proc', '/proc', '--chdir', spec.cwd, '--', ...spec.argv];
    return { file: this.bwrap, args, detached: false };
  }

  protected async signalAll(child: ChildProcess, sig: NodeJS.Signals) {
    if (child.pid === undefined || child.exitCode !== null) return;
    if (sig === 'SIGKILL') return signal(child.pid, 'SIGKILL'); // bwrap's namespace init follows it, and the kernel kills the rest
    // A stop can come before bubblewrap has set up the namespace and started the tool in it: wait for
    // the tool (a moment at most) rather than signal nobody and fall through to SIGKILL.
    for (let waited = 0; waited <= NAMESPACE_WAIT_MS && child.exitCode === null; waited += 10) {
      const init = childPids(child.pid)[0];
      const ns = init === undefined ? null : pidNamespace(init);
      const members = ns ? pidsInNamespace(ns).filter((pid) => pid !== init) : [];
      if (members.length) {
        // Everyone but the namespace's init: its death would SIGKILL the rest without their grace.
        for (const pid of members) signal(pid, sig);
        return;
      }
      await sleep(10);
    }
  }


  protected reap() {
    // The namespace ended with its init when the main process exited: nothing is left to kill.
  }
}

/** Fallback where bubblewrap is missing: the run's process group (setsid escapes it). */
class ProcessGroupExecutor extends BaseExecutor {
  readonly isolation = 'process-group';

  protected command(spec: SpawnSpec) {
    const [file = '', ...args] = spec.argv;
    return { file, args, detached: true };
  }

  protected signalAll(child: ChildProcess, sig: NodeJS.Signals) {
    if (child.pid !== undefined) signal(-child.pid, sig);
  }

  protected reap(child: ChildProcess) {
    if (child.pid !== undefined) signal(-child.pid, 'SIGKILL');
  }
}

/** Null when bubblewrap can give a run a PID namespace here; else why not (in most containers it cannot). */
function probeBubblewrap(): string | null {
  const result = spawnSync('bwrap', ['--dev-bind', '/', '/', '--unshare-pid', '--die-with-parent', '--proc', '/proc', '--', 'true'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 5000,
  });
  if (result.status === 0) return null;
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') return 'bubblewrap is not installed (apt-get install bubblewrap)';
  return `bubblewrap cannot create a PID namespace here (${result.stderr.trim() || `exit ${result.status}`}); in a container it needs extra privileges (see the README)`;
}

export interface ExecutorChoice {
  executor: ProcessExecutor;
  /** Why the PID namespace is not used, when it is not. */
  fallbackReason: string | null;
}

export function createExecutor(preference: 'auto' | Isolation): ExecutorChoice {
  if (preference === 'process-group') return { executor: new ProcessGroupExecutor(), fallbackReason: 'PROCESS_ISOLATION=process-group' };
  const problem = probeBubblewrap();
  if (!problem) return { executor: new PidNamespaceExecutor('bwrap'), fallbackReason: null };
  if (preference === 'pid-namespace') throw new Error(`PROCESS_ISOLATION=pid-namespace, but ${problem}`);
  return { executor: new ProcessGroupExecutor(), fallbackReason: problem };
}
