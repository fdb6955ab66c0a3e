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
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Capabilities } from '../../../shared/src/schemas/health';
import type { ProcessHandle } from '../store/runStore';
import type { CgroupProbe, Cgroups, CgroupUsage, RunCgroup } from './cgroups';
import { childPids, pidNamespace, pidsInNamespace, processStartTicks, signal } from './procfs';
import { SpawnHelper, type HelperChild } from './SpawnHelper';

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

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** Bytes read from a run's output at once, into one buffer for the whole run: no garbage per read. */
const OUTPUT_READ_BYTES = 64 * 1024;

interface OutputChannel {
  childEnd: net.Socket;
  ourEnd: net.Socket;
  /** Where the bytes read go; reading waits until there is one. */
  setReader: (onChunk: (chunk: Buffer) => void) => void;
}

const NONCE_BYTES = 16;

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
  // The abstract name is visible in /proc/net/unix: anyone on the machine could connect first. Our end
  // proves itself with a random nonce; any other connection is dropped.
  const nonce = randomBytes(NONCE_BYTES);
  const strangers = new Set<net.Socket>();
  const accepted = new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the output channel did not connect')), 5000);
    server.on('connection', (socket: net.Socket) => {
      strangers.add(socket);
      let got = Buffer.alloc(0);
      const onData = (data: Buffer) => {
        got = Buffer.concat([got, data]);
        if (got.length < NONCE_BYTES) return;
        socket.off('data', onData);
        socket.pause();
        if (got.length === NONCE_BYTES && got.equals(nonce)) {
          strangers.delete(socket);
          clearTimeout(timer);
          resolve(socket);
        } else socket.destroy();
      };
      socket.on('data', onData);
      socket.on('error', () => socket.destroy());
      socket.resume();
    });
  });
  accepted.catch(() => undefined); // handled below; never an unhandled rejection
  const done = () => {
    server.close();
    for (const socket of strangers) socket.destroy(); // whoever else connected, however little they sent
  };
  try {
    await once(ourEnd, 'connect');
    ourEnd.write(nonce);
  } catch (e) {
    done();
    ourEnd.destroy();
    throw e;
  }
  const childEnd = await accepted.finally(done).catch((e: unknown) => {
    ourEnd.destroy();
    throw e;
  });
  return {
    childEnd,
    ourEnd,
    setReader: (onChunk) => {
      reader = onChunk;
      ourEnd.resume();
    },
  };
}

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

/** prlimit(1) arguments for the rlimits: CPU seconds (SIGXCPU at the limit, SIGKILL a second later) and file size. */
function rlimitArgs(limits: SpawnLimits): string[] {
  const args: string[] = [];
  if (limits.cpuS) args.push(`--cpu=${limits.cpuS}:${limits.cpuS + 1}`);
  if (limits.fileBytes) args.push(`--fsize=${limits.fileBytes}:${limits.fileBytes}`);
  return args.length ? ['prlimit', ...args, '--'] : [];
}

/** Who tools run as, decided once at start-up. */
interface Identity {
  /** The user tools run as in place of a server that runs as root; null when they run as the server's own user. */
  runAs: ToolUser | null;
  /** setpriv and its arguments that run the rest of a command line as runAs; [] without runAs. */
  switchUser: string[];
  /** setpriv and its arguments for no_new_privs alone; [] where setpriv is missing. */
  noNewPrivs: string[];
  /** Why only entries marked run_as_root can run here (a root server that cannot switch users); null when all can. */
  refusal: string | null;
}

interface Command {
  file: string;
  args: string[];
  detached: boolean;
}

abstract class BaseExecutor implements ProcessExecutor {
  abstract readonly isolation: Isolation;
  abstract readonly capabilities: Capabilities;
  protected abstract command(spec: SpawnSpec): Command;

  constructor(
    private readonly cgroups: Cgroups | null,
    protected readonly identity: Identity,
    private readonly helper: SpawnHelper,
  ) {}

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
    const cgroup = this.cgroups?.create(spec.runId, { memoryBytes: spec.limits.memoryBytes ?? undefined, pids: spec.limits.pids ?? undefined }) ?? null;
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
        const usage = cgroup.usage();
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

/** How long a SIGTERM waits for bubblewrap to have started the tool in its namespace. */
const NAMESPACE_WAIT_MS = 1000;

/** The directories between an emptied directory (a tmpfs) and one mounted inside it, outermost first. */
function dirsBetween(hidden: string, dir: string): string[] {
  const between: string[] = [];
  for (let d = path.dirname(dir); d.startsWith(`${hidden}/`); d = path.dirname(d)) between.unshift(d);
  return between;
}

/** bubblewrap's arguments for a sandbox: what the tool sees of the file system and the network. */
export function sandboxArgs(sandbox: SandboxSpec): string[] {
  // In this order: what is readable under /tmp comes back first, then the server's data is hidden
  // (even where it lies inside something readable), then the run's own directories are made writable.
  // Paths must be real (no symbolic links on the way): bubblewrap mounts onto them inside the new root.
  // The kernel's settings stay read-only even for a root tool (whose ownership of them would do). /tmp
  // and /dev/shm are the run's own, open to whoever the tool runs as (sticky, as on any system).
  const kernel = ['--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys', '--ro-bind-try', '/proc/sysrq-trigger', '/proc/sysrq-trigger'];
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/dev/shm', ...kernel, '--perms', '1777', '--tmpfs', '/tmp'];
  // No network: a namespace with only loopback, and /run (where local services keep their Unix sockets) emptied.
  if (!sandbox.network) args.push('--unshare-net', '--tmpfs', '/run');
  // The same for the directories on the way to a readable root under /tmp (bubblewrap makes them 0700).
  for (const dir of sandbox.readable) {
    for (const d of dirsBetween('/tmp', dir)) args.push('--perms', '0755', '--dir', d);
    args.push('--ro-bind-try', dir, dir);
  }
  for (const dir of sandbox.hiddenDirs) args.push('--tmpfs', dir);
  for (const file of sandbox.hiddenFiles) args.push('--ro-bind', '/dev/null', file);
  for (const dir of sandbox.writable) {
    // bubblewrap would make the directories on the way root's alone: a tool run as RUN_AS_USER must pass them.
    const between = new Set(sandbox.hiddenDirs.flatMap((hidden) => dirsBetween(hidden, dir)));
    for (const d of between) args.push('--perms', '0755', '--dir', d);
    args.push('--bind', dir, dir);
  }
  return [...args, '--unshare-ipc', '--new-session', '--cap-drop', 'ALL'];
}

/** bubblewrap's whole command line for a run: its sandbox and PID namespace, then the tool (as `switchUser` makes it). */
function bubblewrapArgs(spec: Pick<SpawnSpec, 'sandbox' | 'argv'> & { cwd?: string }, switchUser: string[]): string[] {
  // setpriv needs CAP_SETUID and CAP_SETGID to switch users, and gives them up as it does.
  const caps = switchUser.length ? ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID'] : [];
  const chdir = spec.cwd === undefined ? [] : ['--chdir', spec.cwd];
  return [...sandboxArgs(spec.sandbox), ...caps, '--unshare-pid', '--die-with-parent', ...chdir, '--', ...switchUser, ...spec.argv];
}

/** Each run in its own PID namespace and sandbox under bubblewrap: nothing escapes it, nothing outlives it. */
class PidNamespaceExecutor extends BaseExecutor {
  readonly isolation = 'pid-namespace';

  constructor(
    private readonly bwrap: string,
    cgroups: Cgroups | null,
    identity: Identity,
    helper: SpawnHelper,
    readonly capabilities: Capabilities,
  ) {
    super(cgroups, identity, helper);
  }

  protected command(spec: SpawnSpec): Command {
    return { file: this.bwrap, args: bubblewrapArgs(spec, this.switchUser(spec)), detached: false };
  }

  protected async signalAll(child: HelperChild, sig: NodeJS.Signals) {
    if (child.exited) return;
    if (sig === 'SIGKILL') return child.kill('SIGKILL'); // bwrap's namespace init follows it, and the kernel kills the rest
    // A stop can come before bubblewrap has set up the namespace and started the tool in it: wait for
    // the tool (a moment at most) rather than signal nobody and fall through to SIGKILL.
    for (let waited = 0; waited <= NAMESPACE_WAIT_MS && !child.exited; waited += 10) {
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
}

/** Fallback where bubblewrap is missing: the run's process group (setsid escapes it). */
class ProcessGroupExecutor extends BaseExecutor {
  readonly isolation = 'process-group';

  constructor(
    cgroups: Cgroups | null,
    identity: Identity,
    helper: SpawnHelper,
    readonly capabilities: Capabilities,
  ) {
    super(cgroups, identity, helper);
  }

  protected command(spec: SpawnSpec): Command {
    // No bubblewrap to set no_new_privs here: setpriv does, whoever the tool runs as.
    const switchUser = this.switchUser(spec);
    const [file = '', ...args] = [...(switchUser.length ? switchUser : this.identity.noNewPrivs), ...spec.argv];
    return { file, args, detached: true };
  }

  protected signalAll(child: HelperChild, sig: NodeJS.Signals) {
    // Sent by the helper, which knows whether it has reaped the leader (then the group id may belong to someone else).
    child.kill(sig, true);
  }
}

/** Runs a probe command; null when it exits 0, else what went wrong. */
function probe(file: string, args: string[]): string | null {
  const result = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  if (result.status === 0) return null;
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') return `${file} is not installed`;
  return result.stderr.trim() || result.error?.message || `exit ${result.status}`;
}

/** Null when bubblewrap can give a run a PID namespace and the sandbox here, as its user; else why not (in most containers it cannot). */
function probeBubblewrap(switchUser: string[]): string | null {
  const sandbox = { network: false, writable: [], readable: [], hiddenDirs: [], hiddenFiles: [] };
  const problem = probe('bwrap', bubblewrapArgs({ sandbox, argv: ['true'] }, switchUser));
  if (!problem) return null;
  if (problem === 'bwrap is not installed') return 'bubblewrap is not installed (apt-get install bubblewrap)';
  return `bubblewrap cannot create a PID namespace and sandbox here (${problem}); in a container it needs extra privileges (see the README)`;
}

export interface ExecutorChoice {
  executor: ProcessExecutor;
  /** Why the PID namespace is not used, when it is not. */
  fallbackReason: string | null;
}

/** A run's disk use is measured by the run service (a walk of its directories), which works on any file system. */
const DISK_WATCH = { enforced: true, how: 'the work and artifact directories measured together every few seconds (a du-like walk); over the limit the run is stopped' } as const;

/** What prlimit(1) can set here, shared by both executors. */
function rlimitCapabilities(): Pick<Capabilities, 'cpu_time' | 'file_size'> {
  const problem = probe('prlimit', ['--cpu=10:11', '--fsize=1000000:1000000', '--', 'true']);
  if (problem) return { cpu_time: { enforced: false, reason: `prlimit: ${problem}` }, file_size: { enforced: false, reason: `prlimit: ${problem}` } };
  return { cpu_time: { enforced: true, how: 'RLIMIT_CPU per process (prlimit)' }, file_size: { enforced: true, how: 'RLIMIT_FSIZE (prlimit)' } };
}

/** A program from the system's own directories: never one found on a PATH that a tool could have written to. */
function systemProgram(name: string): string | null {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    try {
      accessSync(path.join(dir, name), fsConstants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Who tools run as here: a server that runs as root runs them as `wanted` (RUN_AS_USER), with no
 * other groups, no inheritable capabilities and no_new_privs; any other server as itself.
 */
function probeIdentity(wanted: ToolUser): Identity {
  const setpriv = systemProgram('setpriv');
  const noNewPrivs = setpriv && !probe(setpriv, ['--no-new-privs', '--', 'true']) ? [setpriv, '--no-new-privs', '--'] : [];
  if (process.getuid?.() !== 0) return { runAs: null, switchUser: [], noNewPrivs, refusal: null };
  const args = [`--reuid=${wanted.uid}`, `--regid=${wanted.gid}`, '--clear-groups', '--inh-caps=-all', '--no-new-privs', '--'];
  const problem = setpriv ? probe(setpriv, [...args, 'true']) : 'setpriv (util-linux) is not installed';
  if (setpriv && !problem) return { runAs: wanted, switchUser: [setpriv, ...args], noNewPrivs, refusal: null };
  const refusal = `the server runs as root and cannot run tools as RUN_AS_USER ${wanted.uid}:${wanted.gid} (${problem}), so only entries marked run_as_root can run`;
  return { runAs: null, switchUser: [], noNewPrivs, refusal };
}

const yes = (how: string) => ({ enforced: true, how }) as const;
const no = (reason: string) => ({ enforced: false, reason }) as const;

/** How tools are kept from the server's privileges here, in the four ways /health reports. */
function privilegeCapabilities(isolation: Isolation, id: Identity): Pick<Capabilities, 'unprivileged' | 'no_new_privs' | 'kernel_read_only' | 'server_protected'> {
  const user = id.runAs ? `RUN_AS_USER (uid ${id.runAs.uid}, gid ${id.runAs.gid})` : `the server's own user (uid ${process.getuid?.() ?? '?'})`;
  const unprivileged = id.refusal
    ? no(id.refusal)
    : yes(id.runAs ? `tools run as ${user} with no other groups (setpriv); entries marked run_as_root keep root` : `tools run as ${user}, which is not root, so RUN_AS_USER is not needed`);
  if (isolation === 'pid-namespace') {
    return {
      unprivileged,
      no_new_privs: yes('set by bubblewrap'),
      kernel_read_only: yes('bubblewrap: /proc/sys and /sys are mounted read-only, for entries marked run_as_root too'),
      server_protected: yes("the server is outside the run's PID namespace: a tool cannot see it"),
    };
  }
  // Without a sandbox, only being another user than root, and than the server, keeps a tool from them.
  const notRoot = `tools run as ${user}, not root${id.runAs ? ' (entries marked run_as_root apart)' : ''}`;
  return {
    unprivileged,
    no_new_privs: id.noNewPrivs.length ? yes('set by setpriv') : no("setpriv (util-linux) is missing: a set-user-ID program could raise a tool's privileges"),
    kernel_read_only: id.refusal ? no(id.refusal) : yes(`${notRoot}: /proc/sys and /sys belong to root`),
    server_protected: id.runAs
      ? yes(`${notRoot}: signals, ptrace and /proc/<pid> reads of the server are refused`)
      : no(id.refusal ?? `tools run as ${user} in process groups: they can signal the server and read its /proc/<pid>/environ (give it bubblewrap, or run it as root so that tools run as RUN_AS_USER)`),
  };
}

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
    return { executor: new PidNamespaceExecutor('bwrap', cgroups, identity, helper, capabilities), fallbackReason: null };
  }
  if (preference === 'pid-namespace') throw new Error(`PROCESS_ISOLATION=pid-namespace, but ${problem}`);
  const needsSandbox = { enforced: false, reason: `needs bubblewrap: ${problem}` } as const;
  const capabilities: Capabilities = { sandbox: needsSandbox, network_off: needsSandbox, ...limits, ...privilegeCapabilities('process-group', identity) };
  return { executor: new ProcessGroupExecutor(cgroups, identity, helper, capabilities), fallbackReason: problem };
}
