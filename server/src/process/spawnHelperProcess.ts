/**
 * The spawn helper: a small Node process, started once by the server, that starts the runs' tools.
 * Forking copies the page tables of the process that forks, synchronously: about 5 ms of a 200 MB
 * server's event loop per run, during which no log line reaches any reader. This process is a few
 * tens of MB, and when it forks only its own loop waits.
 *
 * It takes spawn requests (a command line built by the executor, and the socket for the tool's
 * output as the message's handle), answers the pid, and the exit once it has reaped the process.
 * Signals the server asks for reach a process only while it is not reaped: its pid cannot be
 * anyone else's yet. A run started in a process group of its own is killed whole when its leader
 * exits, at once, in the same turn of the loop that reaped it.
 *
 * It dies with the server: started under `setpriv --pdeathsig TERM`, and when its IPC channel
 * closes. Either way it kills everything it started first (a sandboxed run's bubblewrap also dies
 * with its parent, this process). Runs as plain Node (types stripped): node: modules only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { FromHelper, ToHelper } from './spawnProtocol';

interface Started {
  child: ChildProcess;
  group: boolean;
}

const started = new Map<number, Started>();

// A failed send means the server is gone: its channel's 'disconnect' ends this process.
const tell = (message: FromHelper) => process.send?.(message, undefined, {}, () => undefined);

/** Field 22 of /proc/PID/stat, as procfs.processStartTicks reads it (this file imports nothing of the server's). */
function startTicks(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

const reaped = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function start(request: Extract<ToHelper, { op: 'spawn' }>, output: Socket | undefined): void {
  const { id, file, args, cwd, env, detached } = request;
  let child: ChildProcess;
  try {
    if (!output) throw new Error('the request came without its output socket');
    child = spawn(file, args, { cwd, env, stdio: ['ignore', output, output], detached, shell: false });
  } catch (e) {
    // A NUL byte in an argument, say: spawn throws before any process exists.
    tell({ op: 'failed', id, message: (e as Error).message, code: (e as NodeJS.ErrnoException).code ?? null });
    return;
  } finally {
    output?.destroy(); // the tool holds its own copy
  }
  const pid = child.pid;
  if (pid === undefined) {
    child.once('error', (e: NodeJS.ErrnoException) => tell({ op: 'failed', id, message: e.message, code: e.code ?? null }));
    return;
  }
  child.on('error', () => undefined); // a failed kill: the process is gone, its exit follows
  started.set(id, { child, group: detached });
  tell({ op: 'spawned', id, pid, startTicks: startTicks(pid) });
  child.once('exit', (code, signal) => {
    // What is left of its group goes now, before the group's id can be reused.
    if (detached) kill(-pid, 'SIGKILL');
    started.delete(id);
    tell({ op: 'exit', id, code, signal });
  });
}

function signal(request: Extract<ToHelper, { op: 'signal' }>): void {
  const run = started.get(request.id);
  if (!run?.child.pid || reaped(run.child)) return;
  kill(request.group ? -run.child.pid : run.child.pid, request.sig);
}

/** The children of `pid` (for a sandboxed run, the init of its PID namespace). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The server is gone: nothing it started may outlive it. A sandboxed run's namespace init is killed
 * too, which ends its whole namespace: bubblewrap's own parent-death signal misses one that is still
 * being set up when its parent dies.
 */
function end(): never {
  for (const { child, group } of started.values()) {
    if (!child.pid || reaped(child)) continue;
    if (group) kill(-child.pid, 'SIGKILL');
    else for (const pid of [...childrenOf(child.pid), child.pid]) kill(pid, 'SIGKILL');
  }
  process.exit(0);
}

// The server's pid is the argument: if it died before setpriv armed the parent-death signal, this process was orphaned already.
if (!process.send || String(process.ppid) !== process.argv[2]) process.exit(1);
process.on('SIGTERM', end);
process.on('SIGINT', () => undefined); // a terminal's Ctrl-C is the server's to handle
process.on('disconnect', end);
process.on('message', (message: ToHelper, handle: unknown) => {
  if (message.op === 'spawn') start(message, handle as Socket | undefined);
  else signal(message);
});
tell({ op: 'ready' });
