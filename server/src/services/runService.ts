/**
 * Runs: starting catalog tools, supervising them to one final state, stopping them, and telling
 * log readers how far each log has been written. Knows nothing of tRPC, HTTP or WebSocket.
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readiness, RunCounts } from '../../../shared/src/schemas/health';
import { isFinal, type EndReason, type Outcome, type Run, type RunLimits, type RunList, type RunListInput, type RunStatus, RunListInput as RunListSchema } from '../../../shared/src/schemas/run';
import { asDomainError, badRequest, conflict, notFound, unavailable } from '../errors';
import { killLeftover, type ExitStatus, type ProcessExecutor, type RunningProcess, type SandboxSpec } from '../process/executor';
import type { RunPatch, RunStore } from '../store/runStore';
import { InvalidCursorError } from '../store/cursor';
import type { S3Archive } from './archive';
import { collectArtifacts } from './artifacts';
import { DiskWatch } from './diskUsage';
import type { ReportFile } from './reports/summary';
import { summarizeInWorker } from './reports/worker';
import type { Catalog, ToolEntry } from './catalog';
import type { LogFeed } from './logFeed';
import { runChanges, type RunFeed } from './runFeed';
import type { LogState } from './logStream';
import { LogWriter } from './logWriter';
import { buildArgv, validateParams } from './params';
import { makeRunDirs } from './runDirs';

export interface RunServiceOptions {
  logDir: string;
  toolEnv: Readonly<Record<string, string>>;
  /** The server's variables of these names (a catalog entry's own `env`). */
  envOf: (names: readonly string[]) => Record<string, string>;
  defaultTimeoutS: number;
  stopGraceMs: number;
  maxConcurrentRuns: number;
  /** The log cap of tools that set none of their own. */
  maxLogBytes: number;
  /** The limits of tools that set none of their own (0: none), applied where the executor can. */
  defaults: { memoryBytes: number; pids: number; cpuS: number; fileBytes: number; diskBytes: number; network: boolean };
  /** How often a run's work and artifact directories are measured against its disk limit (default 2 s). */
  diskPollMs?: number;
  /** This server's readiness (GET /ready): while it fails, starts are answered 503 with Retry-After. */
  readiness?: () => Promise<Readiness>;
  /** Kept readable for every tool by the sandbox (the project, whose node_modules/.bin may hold tools). */
  readable: string[];
  /** Kept from every tool by the sandbox: the server's data directory and secrets files. */
  hiddenDirs: string[];
  hiddenFiles: string[];
  /** Where finished runs are uploaded, when S3 is configured. */
  archive: S3Archive | null;
  onError: (message: string, e: unknown) => void;
  /** Told when a run starts and when it ends (logs, metrics). */
  onStarted?: (run: Run) => void;
  onEnded?: (run: Run) => void;
  /** On an API node of a fleet: workers run the tools, this node queues runs and asks for stops. */
  remote?: RemoteExecution;
  /** On a worker: takes a queued run for this node (undefined when it was stopped or another node has it). */
  claim?: (runId: string) => Promise<Run | undefined>;
}

/** How an API node hands runs to the workers of its fleet, and reads their logs. */
export interface RemoteExecution {
  /** Gives a new run to the queue of the workers that serve its tool's tag. */
  enqueue(run: Run): Promise<void>;
  /** Stops a queued or running run wherever it is; resolves with the run once it has ended (or as it is after a while). */
  stop(runId: string, stoppedBy: string | null): Promise<Run>;
  /** How far the log has reached this node (the log bus). */
  logState(runId: string): Promise<LogState>;
  /** Resolves once this node holds the whole log of a finished run (or gives up waiting). */
  logComplete(runId: string): Promise<void>;
  /** Where this node keeps its copy of a run's log. */
  logPath(runId: string): string;
}

type StopReason = Extract<EndReason, 'stopped' | 'timeout' | 'shutdown' | 'lost' | 'disk_limit'>;

interface ActiveRun {
  run: Run;
  entry: ToolEntry;
  writer?: LogWriter;
  proc?: RunningProcess;
  stop?: { reason: StopReason; by: string | null };
  /** Set once its process has exited: a stop asked for later changes nothing (the run ended by itself). */
  exited?: boolean;
  /** Why it went over its disk limit, when it did (the run's error). */
  overDisk?: string;
  /** Settles with the final run once the process has ended and the log is complete. */
  finished?: Promise<Run>;
  /** Called once the run is `running`, or has ended without getting there. */
  markStarted: () => void;
}

/** How long output may keep flowing after the main process exited (only a process that escaped its group can hold it). */
const OUTPUT_DRAIN_MS = 2000;

const now = () => new Date().toISOString();

/** Appends `line` to the log at `file` (on a line of its own), and answers the log's size after it. */
async function appendLine(file: string, line: string): Promise<number> {
  const handle = await open(file, 'a+');
  try {
    const { size } = await handle.stat();
    const last = size > 0 ? (await handle.read(Buffer.alloc(1), 0, 1, size - 1)).buffer[0] : 0x0a;
    const text = Buffer.from(`${last === 0x0a ? '' : '\n'}${line}\n`);
    await handle.write(text);
    return size + text.length;
  } finally {
    await handle.close();
  }
}

/** JSON with object keys sorted: the same parameters compare equal whichever store (jsonb reorders keys) gave them. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

/** How long a run's state is tried again while the database is unreachable (and while shutting down). */
const PERSIST_MS = 10 * 60 * 1000;
const SHUTDOWN_PERSIST_MS = 5000;

/** The longest wait between two tries of a run's final record that did not land (a full disk, say). */
const RECORD_RETRY_MAX_MS = 30_000;

/** Seconds a start refused for readiness asks the client to wait: for the database to answer, or for space to be freed. */
const NOT_READY_RETRY_S = { database: 5, disk: 30 };

/** How long an Idempotency-Key keeps answering with the same run. */
const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

export class RunService {
  private readonly active = new Map<string, ActiveRun>();
  /** Queued runs, oldest first, with their tool (for per-tool limits). */
  private readonly queue: { runId: string; name: string }[] = [];
  private readonly launching = new Map<string, Promise<void>>();
  /** Runs taken from the queue whose launch has not made them active yet: they hold a slot already. */
  private readonly starting = new Map<string, string>();
  /** Uploads to S3 under way; shutdown waits for them. */
  private readonly archiving = new Set<Promise<void>>();
  /** Runs handed over by `execute`, and what tells their caller they are over. */
  private readonly executing = new Map<string, { over: Promise<void>; settle: (error?: Error) => void }>();
  /**
   * Runs that have ended whose final record has not landed yet (the database refused it: a full disk,
   * say), as they ended: answered as such until the record, tried again until it lands, is written.
   */
  private readonly ending = new Map<string, Run>();
  /** Final records being tried again; shutdown gives them a last chance. */
  private readonly recording = new Set<Promise<void>>();
  private accepting = true;

  constructor(
    private readonly store: RunStore,
    private readonly catalog: Catalog,
    private readonly executor: ProcessExecutor,
    private readonly feed: LogFeed,
    private readonly runFeed: RunFeed,
    private readonly options: RunServiceOptions,
  ) {}

  /** Records a change of a run and tells live lists about it. */
  private async update(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const run = await this.store.update(runId, patch);
    if (run) this.runFeed.publish(run);
    return run;
  }

  logPath(runId: string): string {
    return this.options.remote?.logPath(runId) ?? path.join(this.options.logDir, 'runs', `${runId}.log`);
  }

  /** The log file to serve whole: on an API node, once the log bus has brought all of a finished run's log. */
  async logFile(runId: string): Promise<string> {
    await this.options.remote?.logComplete(runId);
    return this.logPath(runId);
  }

  private workDir(runId: string): string {
    return path.join(this.options.logDir, 'work', runId);
  }

  /** Where a tool writes the files it declares (`{{artifacts}}` in its cmd). */
  artifactsDir(runId: string): string {
    return path.join(this.options.logDir, 'artifacts', runId);
  }

  /** Where a listed artifact of a run is, or a 404 when the run has no artifact of that name. */
  async artifactPath(runId: string, name: string): Promise<{ file: string; type: string; url: string | null; size: number }> {
    const run = await this.get(runId);
    const artifact = run.artifacts.find((a) => a.name === name);
    if (!artifact) throw notFound(`name: run "${runId}" has no artifact "${name}"${run.artifacts.length ? ` (it has ${run.artifacts.map((a) => a.name).join(', ')})` : ''}`);
    return { file: path.join(this.artifactsDir(runId), artifact.name), type: artifact.type, url: artifact.url ?? null, size: artifact.size };
  }

  /** Runs being uploaded to S3 now: retention leaves them alone until they are done. */
  readonly uploading = new Set<string>();

  /** Deletes a finished run's files: its log, working directory, artifacts and S3 copies. */
  async removeFiles(runId: string): Promise<void> {
    await Promise.all([this.logPath(runId), this.workDir(runId), this.artifactsDir(runId)].map((p) => rm(p, { recursive: true, force: true })));
    await this.options.archive?.remove(runId);
  }

  /** Starts a catalog tool; the run is `running` on return, or `queued` when every slot is taken. */
  async start(input: { name: string; params?: Record<string, unknown> | undefined }, requestedBy: string | null, idempotencyKey?: string | null): Promise<Run> {
    if (!this.accepting) throw unavailable('the server is shutting down and starts no new runs: try again (another instance, or this one once restarted)', 5);
    const entry = this.catalog.get(input.name);
    if (!entry) throw notFound(`name: unknown tool "${input.name}" (GET /opensource-list lists the tools)`);
    await this.checkReady();
    // On a fleet's API node neither the paths nor the tool are on this machine: the worker checks them.
    const remote = this.options.remote !== undefined;
    const params = validateParams(entry.params, input.params, remote ? null : [this.options.logDir]);
    const missing = remote ? null : this.catalog.unavailableReason(entry);
    if (missing) throw conflict(`tool "${entry.name}" is not available on this server: ${missing}`);

    const runId = randomUUID();
    const run: Run = {
      run_id: runId,
      name: entry.name,
      // The argv that will run, each parameter value in its own element, fixed now (it survives a restart).
      cmd: buildArgv(entry.cmd, entry.params, params, this.artifactsDir(runId)),
      params,
      status: 'queued',
      exit_code: null,
      signal: null,
      created_at: now(),
      started_at: null,
      finished_at: null,
      requested_by: requestedBy,
      stopped_by: null,
      end_reason: null,
      outcome: null,
      error: null,
      log_bytes: 0,
      log_truncated: false,
      limits: null,
      peak_memory_bytes: null,
      cpu_time_ms: null,
      artifacts: [],
      summary: null,
      archived_at: null,
      archive_error: null,
      log_url: null,
    };
    const claim = idempotencyKey
      ? { principal: requestedBy ?? 'anonymous', key: idempotencyKey, fingerprint: JSON.stringify([entry.name, params]), ttlMs: IDEMPOTENCY_TTL_MS }
      : undefined;
    const stored = await this.store.insert(run, claim);
    if (stored.runId !== run.run_id) {
      // The same key from the same caller: the run it started then, if it asked for the same thing.
      if (stored.fingerprint !== claim?.fingerprint) throw conflict('Idempotency-Key: already used for a different start (another tool or other parameters)');
      return this.get(stored.runId);
    }
    this.runFeed.publish(run);
    if (this.options.remote) return this.enqueue(run);
    this.queue.push({ runId: run.run_id, name: run.name });
    this.dispatch();
    await this.launching.get(run.run_id);
    return this.get(run.run_id);
  }

  /** A start while /ready fails (no room on LOG_DIR's disk, the database away) is "not now", not a server error. */
  private async checkReady(): Promise<void> {
    const readiness = await this.options.readiness?.();
    if (!readiness || readiness.ready) return;
    const failing = Object.entries(readiness.checks).flatMap(([name, check]) => (check.ok ? [] : [`${name}: ${check.error ?? 'failing'}`]));
    const onlyDatabase = readiness.checks.log_dir_writable.ok && readiness.checks.disk.ok;
    throw unavailable(`this server is not ready to start runs (GET /ready): ${failing.join('; ')}; try again later`, onlyDatabase ? NOT_READY_RETRY_S.database : NOT_READY_RETRY_S.disk);
  }

  /** On an API node: the run goes to the workers' queue; when the queue cannot take it, it fails now, clearly. */
  private async enqueue(run: Run): Promise<Run> {
    try {
      await this.options.remote?.enqueue(run);
    } catch (e) {
      const error = `could not be queued: the run queue (Redis) is unavailable: ${(e as Error).message}`;
      await this.update(run.run_id, { status: 'failed', end_reason: 'spawn_error', error, finished_at: now() }).catch(() => undefined);
      // The answer says "try again": a retry with the same Idempotency-Key must start the run, not get this one back.
      await this.store.releaseIdempotencyKey(run.run_id).catch(() => undefined);
      throw unavailable(`the run queue (Redis) is unavailable, so the run was not started: try again shortly (${(e as Error).message})`, 5);
    }
    return this.get(run.run_id);
  }

  /**
   * On a worker: runs a run taken from the fleet's queue, within this node's slots and limits, as
   * `start` would have. Resolves once it is over, or at once when another node has it or it was stopped.
   */
  execute(runId: string, name: string): Promise<void> {
    if (!this.accepting) return Promise.reject(unavailable('this worker is shutting down', 5));
    // Delivered again while this process still holds it: the same run, the same end.
    const held = this.executing.get(runId);
    if (held) return held.over;
    const { promise: over, resolve, reject } = Promise.withResolvers<void>();
    this.executing.set(runId, { over, settle: (error) => (error === undefined ? resolve() : reject(error)) });
    this.queue.push({ runId, name });
    this.dispatch();
    return over;
  }

  /** Run ids this process holds now (waiting for a slot or running). */
  get held(): string[] {
    return [...this.queue.map((q) => q.runId), ...this.starting.keys(), ...this.active.keys()];
  }

  /** Takes a run out of this process's queue (telling an `execute` caller it is over); whether it was there. */
  private dequeue(runId: string): boolean {
    const at = this.queue.findIndex((q) => q.runId === runId);
    if (at < 0) return false;
    this.queue.splice(at, 1);
    this.settle(runId);
    return true;
  }

  private settle(runId: string, error?: Error): void {
    this.executing.get(runId)?.settle(error);
    this.executing.delete(runId);
  }

  async get(runId: string): Promise<Run> {
    const run = await this.store.get(runId);
    if (!run) throw notFound(`run_id: no run "${runId}"`);
    return this.withLinks(this.withLiveLength(this.asEnded(run)));
  }

  /** A run as it ended when its final record has not landed yet; as stored otherwise. */
  private asEnded(run: Run): Run {
    return this.ending.get(run.run_id) ?? run;
  }

  async list(input: RunListInput): Promise<RunList> {
    const filter = RunListSchema.parse(input);
    try {
      const page = await this.store.list(filter);
      return { ...page, items: await Promise.all(page.items.map((r) => this.withLinks(this.withLiveLength(this.asEnded(r))))) };
    } catch (e) {
      if (e instanceof InvalidCursorError) throw badRequest(`cursor: ${e.message}`);
      throw e;
    }
  }

  /** Every run as it is created, starts and ends, until `signal` aborts. */
  changes(signal: AbortSignal): AsyncGenerator<Run> {
    return runChanges(this.runFeed, signal);
  }

  counts(): Promise<RunCounts> {
    return this.store.counts();
  }

  /**
   * Stops a queued or running run: SIGTERM to every process of it, SIGKILL after the grace period.
   * Resolves with the final run, like `docker stop`. A run that has ended is a conflict.
   */
  async stop(runId: string, stoppedBy: string | null): Promise<Run> {
    // Taken from the queue and being launched: stopped once it is (it holds a slot, not yet a process).
    await this.launching.get(runId)?.catch(() => undefined);
    const run = await this.get(runId);
    if (isFinal(run.status)) throw conflict(`run_id: run "${runId}" has already ended (${run.status})`);
    const active = this.active.get(runId);
    if (active) return this.requestStop(active, 'stopped', stoppedBy);
    if (this.options.remote) return this.options.remote.stop(runId, stoppedBy);
    this.dequeue(runId);
    const stopped = await this.update(runId, { status: 'stopped', end_reason: 'stopped', stopped_by: stoppedBy, finished_at: now() });
    this.feed.publish(runId);
    return stopped ?? run;
  }

  /** How far the log may be read, and the final run once it is complete (for the log streamer). */
  async logState(runId: string): Promise<LogState> {
    if (this.options.remote) return this.options.remote.logState(runId);
    const active = this.active.get(runId);
    if (active) return { length: active.writer?.length ?? 0, ended: null };
    const ended = this.ending.get(runId);
    if (ended) return { length: ended.log_bytes, ended };
    const run = await this.store.get(runId);
    if (!run) throw notFound(`run_id: no run "${runId}"`);
    if (isFinal(run.status)) return { length: run.log_bytes, ended: run };
    return { length: 0, ended: null };
  }

  /**
   * At start-up: runs that were `running` when the server died are `lost` (any process of theirs
   * still alive is killed first); runs still `queued` are queued again.
   */
  async recover(): Promise<{ lost: number; requeued: number }> {
    let lost = 0;
    let requeued = 0;
    for (const { run, process } of await this.store.unfinished()) {
      if (run.status === 'queued') {
        this.queue.push({ runId: run.run_id, name: run.name });
        requeued++;
        continue;
      }
      if (process) killLeftover(process);
      const error = 'the server stopped while this run was going; its processes were ended';
      // The log says why it ends there, as the record does.
      const logBytes = await appendLine(this.logPath(run.run_id), `oss-runner: ${error} (the run is lost)`);
      await this.update(run.run_id, { status: 'lost', end_reason: 'lost', finished_at: now(), log_bytes: logBytes, error });
      await this.store.setProcess(run.run_id, null);
      lost++;
    }
    this.dispatch();
    return { lost, requeued };
  }

  /** Runs going now (taking a slot). */
  get runningCount(): number {
    return this.active.size + this.starting.size;
  }

  /** Runs waiting for a slot in this process. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /**
   * On a worker whose lease ran out while it was cut off from the database: the fleet has counted these
   * runs lost, so they are ended here too (recorded `lost`, saying why) rather than going on unseen.
   * Answers the runs it began to end now.
   */
  abandon(runIds: string[]): string[] {
    const ended: string[] = [];
    for (const runId of runIds) {
      if (this.dequeue(runId)) ended.push(runId);
      const active = this.active.get(runId);
      // Asked once: the stop under way keeps its grace.
      if (active && !active.stop) {
        void this.requestStop(active, 'lost', null).catch(() => undefined);
        ended.push(runId);
      }
    }
    return ended;
  }

  /** From now on a start answers 503; queued runs stay queued (in the store) for the next start. */
  stopAccepting(): void {
    this.accepting = false;
    for (const { runId } of this.queue.splice(0)) this.settle(runId);
  }

  /**
   * Starts no new runs, lets the running ones finish for up to `graceMs`, then stops what is left
   * (recorded as `stopped`, reason `shutdown`, each within STOP_GRACE_S). Waits for uploads under way.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.stopAccepting();
    const finishing = [...this.active.values()].flatMap((a) => (a.finished ? [a.finished.catch(() => undefined)] : []));
    if (graceMs > 0) await Promise.race([Promise.all(finishing), sleep(graceMs)]);
    await Promise.all([...this.active.values()].map((a) => this.requestStop(a, 'shutdown', null).catch(() => undefined)));
    // A final record still refused gets a last chance; otherwise the next start marks its run lost.
    if (this.recording.size) await Promise.race([Promise.all(this.recording), sleep(SHUTDOWN_PERSIST_MS)]);
    await Promise.all(this.archiving);
  }

  private withLiveLength(run: Run): Run {
    const writer = this.active.get(run.run_id)?.writer;
    return writer ? { ...run, log_bytes: writer.length, log_truncated: writer.truncated } : run;
  }

  /** An archived run with presigned links to its log and artifacts in S3 (made now: they expire). */
  private async withLinks(run: Run): Promise<Run> {
    const archive = this.options.archive;
    if (!archive || !run.archived_at) return run;
    const [logUrl, ...urls] = await Promise.all([archive.link(run.run_id, 'log'), ...run.artifacts.map((a) => archive.link(run.run_id, `artifacts/${a.name}`))]);
    return { ...run, log_url: logUrl ?? null, artifacts: run.artifacts.map((a, i) => ({ ...a, url: urls[i] ?? null })) };
  }

  /**
   * What a run of this tool is held to: its own limits, else the server's defaults, each only where
   * the executor can enforce it (a tool whose own limit cannot be enforced is refused before this).
   */
  private limitsFor(entry: ToolEntry): RunLimits {
    const can = this.executor.capabilities;
    const { defaults } = this.options;
    const pick = (own: number | undefined, fallback: number, capability: keyof typeof can) => (can[capability].enforced ? own ?? (fallback || null) : null);
    return {
      memory_bytes: pick(entry.limits?.memory_bytes, defaults.memoryBytes, 'memory'),
      pids: pick(entry.limits?.pids, defaults.pids, 'pids'),
      cpu_s: pick(entry.limits?.cpu_s, defaults.cpuS, 'cpu_time'),
      file_bytes: pick(entry.limits?.file_bytes, defaults.fileBytes, 'file_size'),
      disk_bytes: pick(entry.limits?.disk_bytes, defaults.diskBytes, 'disk'),
      log_bytes: entry.limits?.log_bytes ?? this.options.maxLogBytes,
      network: can.network_off.enforced ? (entry.network ?? defaults.network) : true,
      sandbox: can.sandbox.enforced,
    };
  }

  private sandboxFor(entry: ToolEntry, runId: string, limits: RunLimits, cacheDir: string | null): SandboxSpec {
    // Mount points must be real paths, and may only be mounted over where they exist (now).
    const real = (p: string) => {
      try {
        return [realpathSync(p)];
      } catch {
        return [];
      }
    };
    const roots = Object.values(entry.params).flatMap((p) => (p.type === 'path' ? p.roots.flatMap(real) : []));
    return {
      network: limits.network,
      writable: [this.workDir(runId), this.artifactsDir(runId), ...(cacheDir ? [cacheDir] : [])],
      readable: [...new Set([...this.options.readable, ...roots])],
      hiddenDirs: this.options.hiddenDirs,
      hiddenFiles: this.options.hiddenFiles.flatMap(real),
    };
  }

  /**
   * Starts queued runs, first in first out, while there are free slots: MAX_CONCURRENT_RUNS in all,
   * and a tool's own `concurrency`. A run whose tool is at its limit waits without holding back runs
   * of other tools queued after it.
   */
  private dispatch(): void {
    for (let i = 0; i < this.queue.length && this.accepting && this.active.size + this.starting.size < this.options.maxConcurrentRuns; ) {
      const { runId, name } = this.queue[i] ?? { runId: '', name: '' };
      const entry = this.catalog.get(name);
      const limit = entry?.concurrency;
      // A cache (a scanner's database) is used by one run at a time: scanners lock and update it.
      if ((limit !== undefined && this.activeOf(name) >= limit) || (entry?.cache !== undefined && this.cacheInUse(entry.cache))) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.starting.set(runId, name);
      const launch = this.launch(runId).finally(() => this.launching.delete(runId));
      // A failure is for start() to report; a launch nobody awaits must not end the process.
      launch.catch(() => undefined);
      this.launching.set(runId, launch);
    }
  }

  private cacheInUse(cache: string): boolean {
    for (const a of this.active.values()) if (a.entry.cache === cache) return true;
    for (const name of this.starting.values()) if (this.catalog.get(name)?.cache === cache) return true;
    return false;
  }

  private activeOf(name: string): number {
    let n = 0;
    for (const a of this.active.values()) if (a.run.name === name) n++;
    for (const starting of this.starting.values()) if (starting === name) n++;
    return n;
  }

  private async launch(runId: string): Promise<void> {
    let run: Run | undefined;
    let failure: Error | undefined;
    try {
      run = await (this.options.claim ?? ((id: string) => this.store.get(id)))(runId);
    } catch (e) {
      failure = e as Error;
    } finally {
      // From here the run holds its slot as an active run (or gives it back).
      this.starting.delete(runId);
    }
    if (failure || !run || run.status !== 'queued') {
      // A run handed over by `execute` fails its caller (the queue tries it again); a local start fails its request.
      const local = !this.executing.has(runId);
      this.settle(runId, failure);
      this.dispatch();
      if (failure && local) throw failure;
      return;
    }
    const entry = this.catalog.get(run.name);
    // On a worker, checked where the tool runs (the API node could not): installed, its limits enforceable.
    const notHere = this.options.claim && entry && this.catalog.unavailableReason(entry);
    let markStarted = () => {};
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const active: ActiveRun = { run, entry: entry ?? { name: run.name, description: '', cmd: run.cmd, params: {}, artifacts: [], env: [], set_env: {}, run_as_root: false, allow_code_injection: false }, markStarted };
    this.active.set(runId, active);
    active.finished = this.supervise(active, entry === undefined ? `tool "${run.name}" is no longer in the catalog` : notHere ? `tool "${run.name}" is not available here: ${notHere}` : null);
    active.finished.catch((e: unknown) => this.options.onError(`recording the end of run ${runId} failed`, e));
    await started;
  }

  private async supervise(active: ActiveRun, refusal: string | null): Promise<Run> {
    const { run, entry } = active;
    const runId = run.run_id;
    const limits = this.limitsFor(entry);
    let exit: ExitStatus = { exitCode: null, signal: null, usage: null };
    let error: string | null = refusal;
    let spawned = false;
    let artifacts: Run['artifacts'] = [];
    let summary: Run['summary'] = null;
    let timer: NodeJS.Timeout | undefined;
    let watch: DiskWatch | null = null;
    try {
      await mkdir(path.dirname(this.logPath(runId)), { recursive: true });
      const workDir = this.workDir(runId);
      const cacheDir = entry.cache ? path.join(this.options.logDir, 'cache', entry.cache) : null;
      // The user the tool runs as when it is not the server's own (RUN_AS_USER, for a server run as root).
      const user = entry.run_as_root ? null : this.executor.runAs;
      active.writer = LogWriter.create(this.logPath(runId), limits.log_bytes);
      await makeRunDirs({ logDir: this.options.logDir, workDir, artifactsDir: this.artifactsDir(runId), cacheDir }, user, !limits.sandbox);
      if (refusal) throw new Error(refusal);
      // A worker builds the argv on its own machine: its paths checked on its disk, its artifact directory.
      const argv = this.options.claim ? buildArgv(entry.cmd, entry.params, validateParams(entry.params, run.params, [this.options.logDir]), this.artifactsDir(runId)) : run.cmd;
      const proc = await this.executor.spawn({
        runId,
        argv,
        cwd: workDir,
        // In the sandbox the real home is read-only, and another user's is not the tool's: the run's own directory stands in for it (dotfiles).
        env: {
          ...this.options.toolEnv,
          ...this.options.envOf(entry.env),
          ...entry.set_env,
          ...(limits.sandbox || user ? { HOME: workDir } : {}),
          ...(cacheDir ? { XDG_CACHE_HOME: cacheDir } : {}),
        },
        limits: { memoryBytes: limits.memory_bytes, pids: limits.pids, cpuS: limits.cpu_s, fileBytes: limits.file_bytes },
        sandbox: this.sandboxFor(entry, runId, limits, cacheDir),
        runAsRoot: entry.run_as_root,
      });
      spawned = true;
      active.proc = proc;
      // Stopped while it was being spawned: stopped now, not after the writes below (which may wait out an outage).
      if (active.stop) void proc.terminate(this.options.stopGraceMs);
      // From here the process runs: these writes wait out a database outage rather than orphan it.
      await this.persist(() => this.store.setProcess(runId, proc.handle));
      active.run = (await this.persist(() => this.update(runId, { status: 'running', started_at: now(), limits, cmd: argv }))) ?? run;
      this.options.onStarted?.(active.run);
      this.feed.publish(runId);
      active.markStarted();

      const timeoutS = entry.timeout_s ?? this.options.defaultTimeoutS;
      timer = setTimeout(() => void this.requestStop(active, 'timeout', null), timeoutS * 1000);
      watch = this.watchDisk(active, limits.disk_bytes ?? null);
      const pumped = this.pump(active.writer, proc, runId);
      exit = await proc.exited;
      active.exited = true;
      clearTimeout(timer);
      watch?.stop();
      // Measured at its end too: files written faster than the measurements came do not slip through.
      if (watch && limits.disk_bytes && !active.stop && (await watch.over())) this.overDisk(active, watch.used, limits.disk_bytes, 'when it ended');
      // Output ends once no process holds it; only one that escaped its process group can delay that.
      await Promise.race([pumped, sleep(OUTPUT_DRAIN_MS)]);
      proc.closeOutput();
      await pumped;
      const collected = await collectArtifacts(this.artifactsDir(runId), entry.artifacts, limits.file_bytes);
      artifacts = collected.artifacts;
      for (const problem of collected.problems) active.writer.write(Buffer.from(`oss-runner: ${problem}\n`));
      summary = await this.summarize(entry, run, artifacts);
    } catch (e) {
      error ??= spawned ? `supervising the run failed: ${(e as Error).message}` : `could not start: ${(e as Error).message}`;
      active.writer?.write(Buffer.from(`oss-runner: ${error}\n`));
      // Whatever failed, no process outlives its run: ended now, and waited for.
      if (active.proc && !active.exited) {
        exit = await active.proc.terminate(this.options.stopGraceMs).catch(() => exit);
        active.exited = true;
        active.proc.closeOutput();
      }
    }
    clearTimeout(timer);
    watch?.stop();
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

    const { status, endReason, outcome } = this.outcome(active, exit, spawned);
    const finalPatch: RunPatch = {
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
      artifacts,
      summary,
    };
    // The run has ended whether or not its record lands now: it is answered as ended from here on.
    const ended: Run = { ...active.run, ...finalPatch };
    this.ending.set(runId, ended);
    let final: Run | undefined;
    try {
      final = await this.recordEnd(runId, finalPatch);
    } catch (e) {
      this.options.onError(`recording the end of run ${runId} failed: it is tried again until it lands`, e);
      this.runFeed.publish(ended);
      this.retryRecord(runId, finalPatch);
    } finally {
      // Whatever happened to the record, the slot is given back and readers are told.
      this.active.delete(runId);
      active.markStarted();
      this.feed.publish(runId);
      this.settle(runId);
      this.dispatch();
    }
    if (final) this.afterEnd(final);
    return final ?? ended;
  }

  /** Writes a run's final record (its summary left out if the database refuses it); throws when it could not. */
  private async recordEnd(runId: string, patch: RunPatch): Promise<Run | undefined> {
    const final = await this.persist(() => this.update(runId, patch)).catch(async (e: unknown) => {
      // Something in the summary the database refuses: the run's end matters more than its summary.
      if (asDomainError(e)?.kind === 'unavailable' || !patch.summary) throw e;
      return this.persist(() => this.update(runId, { ...patch, summary: null }));
    });
    await this.persist(() => this.store.setProcess(runId, null));
    this.ending.delete(runId);
    return final;
  }

  /** A final record that did not land is tried again, less often as it goes on, until it does. */
  private retryRecord(runId: string, patch: RunPatch): void {
    const work = (async () => {
      for (let attempt = 1; ; attempt++) {
        await sleep(Math.min(RECORD_RETRY_MAX_MS, 1000 * 2 ** Math.min(attempt, 5)), undefined, { ref: false });
        const final = await this.recordEnd(runId, patch).then((r) => r ?? null, () => undefined);
        if (final === undefined) continue;
        this.feed.publish(runId);
        if (final) this.afterEnd(final);
        return;
      }
    })();
    this.recording.add(work);
    void work.finally(() => this.recording.delete(work));
  }

  /** Once a run's end is recorded: told to whoever listens, uploaded to S3 when configured. */
  private afterEnd(final: Run): void {
    this.options.onEnded?.(final);
    if (this.options.archive) this.track(this.archiveRun(final, this.options.archive));
  }

  /** Measures the run's work and artifact directories every few seconds; over its limit it is stopped. */
  private watchDisk(active: ActiveRun, limitBytes: number | null): DiskWatch | null {
    if (!limitBytes) return null;
    const runId = active.run.run_id;
    return new DiskWatch({
      dirs: [this.workDir(runId), this.artifactsDir(runId)],
      limitBytes,
      intervalMs: this.options.diskPollMs ?? 2000,
      onOver: (bytes) => {
        this.overDisk(active, bytes, limitBytes, 'while it ran');
        void this.requestStop(active, 'disk_limit', null).catch(() => undefined);
      },
      onError: (e) => this.options.onError(`measuring the disk use of run ${runId} failed`, e),
    }).start();
  }

  private overDisk(active: ActiveRun, bytes: number, limitBytes: number, when: string): void {
    active.overDisk = `its work and artifact directories took ${bytes} bytes ${when}, over its disk limit of ${limitBytes} bytes (limits.disk_bytes or RUN_DISK_BYTES)${when === 'while it ran' ? ', so it was stopped' : ''}`;
    active.stop ??= { reason: 'disk_limit', by: null };
    active.writer?.write(Buffer.from(`oss-runner: ${active.overDisk}\n`));
  }

  /** The run's report artifacts read into a summary, compared with the tool's previous summarised run. */
  private async summarize(entry: ToolEntry, run: Run, artifacts: Run['artifacts']): Promise<Run['summary']> {
    const runId = run.run_id;
    const reportsOf = (id: string, listed: Run['artifacts']): ReportFile[] =>
      entry.artifacts.flatMap((a) => (a.report && listed.some((l) => l.name === a.name) ? [{ artifact: a.name, format: a.report, file: path.join(this.artifactsDir(id), a.name) }] : []));
    const reports = reportsOf(runId, artifacts);
    if (!reports.length) return null;
    // The previous run of the same tool on the same parameters: another target is not "the last time".
    const { items } = await this.store.list({ name: entry.name, limit: 50 });
    const params = canonical(run.params);
    const previous = items.find((r) => r.run_id !== runId && isFinal(r.status) && r.summary && canonical(r.params) === params);
    try {
      return await summarizeInWorker(reports, previous ? { runId: previous.run_id, reports: reportsOf(previous.run_id, previous.artifacts) } : null);
    } catch (e) {
      this.options.onError(`summarising run ${runId} failed`, e);
      return null;
    }
  }

  /**
   * A write that must land (a run's final state): while the database is unreachable it is tried again
   * every second, for up to PERSIST_ATTEMPTS seconds; other errors fail at once.
   */
  private async persist<T>(write: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (e) {
        // Shutting down, the wait is short: the server must exit within its grace.
        const patience = this.accepting ? PERSIST_MS : SHUTDOWN_PERSIST_MS;
        if (asDomainError(e)?.kind !== 'unavailable' || Date.now() - started > patience) throw e;
        if (attempt === 1) this.options.onError('the database is unavailable: the run\'s state will be recorded once it answers', e);
        await sleep(1000);
      }
    }
  }

  private track(work: Promise<void>): void {
    this.archiving.add(work);
    void work.finally(() => this.archiving.delete(work));
  }

  /** Uploads a finished run's log, artifacts and metadata to S3, and records how that went. */
  private async archiveRun(run: Run, archive: S3Archive): Promise<void> {
    const files = [
      { name: 'log', path: this.logPath(run.run_id), type: 'text/plain; charset=utf-8' },
      ...run.artifacts.map((a) => ({ name: `artifacts/${a.name}`, path: path.join(this.artifactsDir(run.run_id), a.name), type: a.type })),
    ];
    this.uploading.add(run.run_id);
    try {
      await archive.upload(run, files);
      await this.update(run.run_id, { archived_at: now(), archive_error: null });
    } catch (e) {
      this.options.onError(`uploading run ${run.run_id} to S3 failed`, e);
      await this.update(run.run_id, { archive_error: (e as Error).message || String(e) }).catch(() => undefined);
    } finally {
      this.uploading.delete(run.run_id);
    }
  }

  /** Writes the output to the log as it comes, telling readers after each piece. Settles at its end. */
  private pump(writer: LogWriter, proc: RunningProcess, runId: string): Promise<void> {
    return proc.readOutput((chunk) => {
      writer.write(chunk);
      this.feed.publish(runId);
    });
  }

  /**
   * How the run ended. A stop or timeout wins over the exit code; otherwise the tool's `outcome`
   * rules say what the code meant (without them, 0 is success and anything else an error).
   */
  private outcome(active: ActiveRun, exit: ExitStatus, spawned: boolean): { status: RunStatus; endReason: EndReason; outcome: Outcome | null } {
    if (!spawned) return { status: 'failed', endReason: 'spawn_error', outcome: null };
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

  private async requestStop(active: ActiveRun, reason: StopReason, by: string | null): Promise<Run> {
    if (active.exited) return active.finished ?? this.get(active.run.run_id);
    active.stop ??= { reason, by };
    if (active.proc) void active.proc.terminate(this.options.stopGraceMs);
    return active.finished ?? this.get(active.run.run_id);
  }
}
