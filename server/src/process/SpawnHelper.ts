/**
 * The server's side of the spawn helper (spawnHelperProcess.ts): starts it once, hands it spawn requests,
 * and gives each run a HelperChild (its pid, its exit, signals to it). The server never forks a
 * tool itself, so a start costs its event loop a message, not a copy of its page tables.
 *
 * Should the helper die, every run it had started has lost its parent: their processes are killed
 * here (a sandboxed run's are already, with their parent), their exits reject with why, the
 * server's log says so, and a new helper is started. One that dies while starting is started
 * again after a pause that doubles, up to 30 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import path from 'node:path';
import { processStartTicks, signal } from './procfs';
import type { FromHelper, HelperCommand, ToHelper } from './spawnProtocol';

export interface HelperExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process the helper started, as the executor sees it. */
export interface HelperChild {
  readonly pid: number;
  /** Its start time in clock ticks (procfs), read by the helper before it could be reaped. */
  readonly startTicks: string;
  /** Settles once the helper has reaped it; rejects when the helper died first (its processes were killed). */
  readonly exit: Promise<HelperExit>;
  /** Whether its exit is known here. */
  readonly exited: boolean;
  /** Sends `sig` to it, or to its process group, unless it has been reaped meanwhile. */
  kill(sig: NodeJS.Signals, group?: boolean): void;
}

export interface SpawnHelperOptions {
  /** setpriv(1), to make the helper die with the server (its parent-death signal); null where it is missing. */
  setpriv: string | null;
  /** The helper's exits and restarts, for the server's log. */
  warn: (message: string) => void;
  info: (message: string) => void;
}

/** How long a spawn waits for a helper that is (re)starting. */
const READY_WAIT_MS = 10_000;
/** A helper that dies sooner than this after starting is started again after a pause. */
const STABLE_MS = 1000;
const MAX_PAUSE_MS = 30_000;

/** The helper's program: its TypeScript under tsx and in tests (Node strips the types), its own entry point when built. */
function helperProgram(): string {
  const self = import.meta.url;
  return self.endsWith('.ts') ? path.join(import.meta.dirname, 'spawnHelperProcess.ts') : new URL('spawn-helper.js', self).pathname;
}

/** The helper's channel keeps this process alive while an answer or an exit is awaited from it, and only then. */
function holdLoop(gen: Generation): void {
  if (gen.pending.size || gen.live.size) gen.proc.channel?.ref();
  else gen.proc.channel?.unref();
}

interface Live {
  pid: number;
  startTicks: string;
  group: boolean;
  state: { exited: boolean };
  resolve: (exit: HelperExit) => void;
  reject: (e: Error) => void;
}

/** One helper process at a time, with the requests and the processes that are its. */
interface Generation {
  proc: ChildProcess;
  startedAt: number;
  ready: Promise<void>;
  pending: Map<number, { group: boolean; resolve: (child: HelperChild) => void; reject: (e: Error) => void }>;
  live: Map<number, Live>;
  dead: boolean;
}

export class SpawnHelper {
  private current: Generation | null = null;
  /** Why the last helper could not start, while the next waits out its pause. */
  private down: Error | null = null;
  private nextId = 1;
  private pauseMs = 0;
  private closed = false;

  constructor(private readonly options: SpawnHelperOptions) {}

  /** Starts the helper now rather than at the first spawn. */
  start(): void {
    this.current ??= this.launch();
  }

  /** Starts `command` with `output` as its stdout and stderr. Rejects when it cannot be started. */
  async spawn(command: HelperCommand, output: Socket): Promise<HelperChild> {
    if (this.closed) throw new Error('the spawn helper is closed');
    if (!this.current && this.down) throw new Error(`the spawn helper is not running: ${this.down.message}`);
    const gen = (this.current ??= this.launch());
    await gen.ready;
    const id = this.nextId++;
    const started = new Promise<HelperChild>((resolve, reject) => gen.pending.set(id, { group: command.detached, resolve, reject }));
    const request: ToHelper = { op: 'spawn', id, ...command };
    // A socket a net.Server accepted is sent as cluster's shared connections are: tracked per server on
    // both sides with listeners that are never removed (one more per run). This one is the tool's alone.
    (output as Socket & { server: unknown }).server = null;
    gen.proc.send(request, output, (e) => {
      if (!e) return;
      gen.pending.get(id)?.reject(e);
      gen.pending.delete(id);
      holdLoop(gen);
    });
    holdLoop(gen);
    return started;
  }

  /** At shutdown, once no run is left: the helper exits when its channel closes. */
  close(): void {
    this.closed = true;
    const gen = this.current;
    this.current = null;
    if (gen?.proc.connected) gen.proc.disconnect();
  }

  private launch(): Generation {
    const node = [process.execPath, '--max-old-space-size=64', helperProgram(), String(process.pid)];
    // Detached: a terminal's Ctrl-C reaches the server, which stops the runs in order, not the helper.
    const argv = this.options.setpriv ? [this.options.setpriv, '--pdeathsig', 'TERM', '--', ...node] : node;
    const [file = '', ...args] = argv;
    const proc = spawn(file, args, { env: {}, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', detached: true });
    const ready = Promise.withResolvers<void>();
    ready.promise.catch(() => undefined);
    // One that never says it is ready is killed, and replaced as one that died.
    const notReady = setTimeout(() => {
      ready.reject(new Error(`the spawn helper did not start within ${READY_WAIT_MS / 1000} s`));
      proc.kill('SIGKILL');
    }, READY_WAIT_MS).unref();
    const gen: Generation = { proc, startedAt: Date.now(), ready: ready.promise, pending: new Map(), live: new Map(), dead: false };
    proc.on('message', (message: FromHelper) => {
      if (message.op !== 'ready') return this.received(gen, message);
      clearTimeout(notReady);
      ready.resolve();
    });
    const ended = (why: string) => {
      clearTimeout(notReady);
      ready.reject(new Error(`the spawn helper exited (${why}) before it was ready`));
      this.died(gen, why);
    };
    // A process that could not be started at all may say so with 'error' alone; any later 'error' (a
    // message to a helper that just died) is followed by its 'exit'.
    proc.on('error', (e) => proc.pid === undefined && ended(e.message));
    void once(proc, 'exit').then(([code, sig]) => ended(sig ? `signal ${String(sig)}` : `code ${String(code)}`));
    proc.unref();
    proc.channel?.unref();
    return gen;
  }

  private received(gen: Generation, message: Exclude<FromHelper, { op: 'ready' }>): void {
    if (message.op === 'exit') {
      const live = gen.live.get(message.id);
      gen.live.delete(message.id);
      if (!live) return;
      live.state.exited = true;
      live.resolve({ code: message.code, signal: message.signal });
      holdLoop(gen);
      return;
    }
    const pending = gen.pending.get(message.id);
    gen.pending.delete(message.id);
    holdLoop(gen);
    if (!pending) return;
    if (message.op === 'failed') return pending.reject(Object.assign(new Error(message.message), { code: message.code ?? undefined }));
    // Known as live here and now: its exit may be the very next message, handled before any promise settles.
    pending.resolve(this.child({ gen, id: message.id, pid: message.pid, startTicks: message.startTicks, group: pending.group }));
  }

  /** `id`: the helper's number for it; `group`: whether it leads a process group of its own. */
  private child({ gen, id, pid, startTicks, group }: { gen: Generation; id: number; pid: number; startTicks: string; group: boolean }): HelperChild {
    const state = { exited: false };
    const exit = new Promise<HelperExit>((resolve, reject) => gen.live.set(id, { pid, startTicks, group, state, resolve, reject }));
    holdLoop(gen);
    exit.catch(() => undefined); // the executor awaits it; never an unhandled rejection meanwhile
    return {
      pid,
      startTicks,
      exit,
      get exited() {
        return state.exited;
      },
      kill: (sig, toGroup = false) => {
        if (!state.exited && gen === this.current && gen.proc.connected) gen.proc.send({ op: 'signal', id, sig, group: toGroup } satisfies ToHelper);
      },
    };
  }

  /** The helper is gone: what it started is ended, and a new one starts unless the server is closing. */
  private died(gen: Generation, why: string): void {
    if (gen.dead) return;
    gen.dead = true;
    if (this.current === gen) this.current = null;
    const gone = new Error(`the spawn helper exited (${why}) while the run was going; its processes were ended`);
    for (const pending of gen.pending.values()) pending.reject(new Error(`the spawn helper exited (${why}) before it started the tool`));
    gen.pending.clear();
    for (const live of gen.live.values()) {
      // Orphans now (a sandboxed run's bubblewrap died with its parent): killed unless their pid is someone else's by now.
      if (processStartTicks(live.pid) === live.startTicks) signal(live.group ? -live.pid : live.pid, 'SIGKILL');
      live.state.exited = true;
      live.reject(gone);
    }
    const runs = gen.live.size;
    gen.live.clear();
    if (this.closed) return;
    const lived = Date.now() - gen.startedAt;
    this.pauseMs = lived < STABLE_MS ? Math.min(MAX_PAUSE_MS, Math.max(1000, this.pauseMs * 2)) : 0;
    const pause = this.pauseMs;
    this.options.warn(`the spawn helper (pid ${gen.proc.pid ?? '?'}) exited (${why})${runs ? `; ${runs} run(s) it had started were ended` : ''}; ${pause ? `starting a new one in ${pause / 1000} s` : 'starting a new one'}`);
    this.down = new Error(`it exited (${why})`);
    const restart = () => {
      if (this.closed || this.current) return;
      this.down = null;
      const next = (this.current = this.launch());
      next.ready.then(
        () => this.options.info(`the spawn helper is running again (pid ${next.proc.pid ?? '?'})`),
        () => undefined,
      );
    };
    if (pause) setTimeout(restart, pause).unref();
    else restart();
  }
}
