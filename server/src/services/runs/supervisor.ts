/**
 * Supervises a run's process from its directories to its final record, as named steps: directories,
 * writer, spawn, persist, timeout, pump, drain, artifacts, summary, outcome, final record. Whatever
 * fails on the way, no process outlives its run and the run ends with one final record.
 */
import type { ArrivalTimesOptions } from '../arrivalTimes';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Run } from '../../../../shared/src/schemas/run';
import type { ProcessExecutor, RunningProcess, ToolUser } from '../../process/executor';
import { collectArtifacts } from '../artifacts';
import type { Catalog, ToolEntry } from '../catalog';
import type { LogFeed } from '../logFeed';
import { LogWriter } from '../logWriter';
import { makeRunDirs } from '../runDirs';
import type { ActiveRun, StopReason } from './activeRun';
import { checkDiskAtEnd, watchDisk } from './diskLimit';
import type { RunIntake } from './intake';
import { limitsFor, sandboxFor, type LimitDefaults, type SandboxBase } from './limits';
import type { RunLauncher } from './localDispatcher';
import { finalPatch } from './outcome';
import type { RunPaths } from './paths';
import type { RunRecords } from './records';
import { summarize } from './summary';

export interface SupervisorOptions {
  logDir: string;
  toolEnv: Readonly<Record<string, string>>;
  /** The server's variables of these names (a catalog entry's own `env`). */
  envOf: (names: readonly string[]) => Record<string, string>;
  defaultTimeoutS: number;
  stopGraceMs: number;
  /** The log cap of tools that set none of their own. */
  maxLogBytes: number;
  /** How finely, and how much, the arrival of output is recorded beside the log. */
  logTimes?: ArrivalTimesOptions;
  defaults: LimitDefaults;
  /** How often a run's work and artifact directories are measured against its disk limit (default 2 s). */
  diskPollMs?: number;
  sandbox: SandboxBase;
  onError: (message: string, e: unknown) => void;
  /** Told when a run starts (logs, metrics). */
  onStarted?: (run: Run) => void;
}

/** How long output may keep flowing after the main process exited (only a process that escaped its group can hold it). */
const OUTPUT_DRAIN_MS = 2000;

interface RunDirsHere {
  workDir: string;
  cacheDir: string | null;
  /** The user the tool runs as when it is not the server's own (RUN_AS_USER, for a server run as root). */
  user: ToolUser | null;
}

const now = () => new Date().toISOString();

/** A tool no longer in the catalog still ends with a record: it stands in for its entry. */
const standIn = (run: Run): ToolEntry => ({ name: run.name, description: '', cmd: run.cmd, params: {}, artifacts: [], env: [], set_env: {}, run_as_root: false, allow_code_injection: false });

export class RunSupervisor implements RunLauncher {
  private readonly active = new Map<string, ActiveRun>();

  constructor(
    private readonly deps: { records: RunRecords; catalog: Catalog; executor: ProcessExecutor; feed: LogFeed; intake: RunIntake; paths: RunPaths },
    private readonly options: SupervisorOptions,
  ) {}

  /** Whether the run is going here (from being taken to its final record). */
  has(runId: string): boolean {
    return this.active.has(runId);
  }

  /** The log writer of a run going here (none before its directories are made). */
  writerOf(runId: string): LogWriter | undefined {
    return this.active.get(runId)?.writer;
  }

  /**
   * Takes the run and supervises it; `done` is called once it has ended. Resolves once it is
   * `running` or has ended without getting there; with false when there was no run to take.
   */
  async launch(runId: string, done: () => void): Promise<boolean> {
    const run = await this.deps.intake.take(runId);
    if (!run || run.status !== 'queued') return false;
    const entry = this.deps.catalog.get(run.name);
    const notHere = entry && this.deps.intake.refusal(entry);
    const refusal = entry === undefined ? `tool "${run.name}" is no longer in the catalog` : notHere ? `tool "${run.name}" is not available here: ${notHere}` : null;
    const started = Promise.withResolvers<void>();
    const ended = Promise.withResolvers<Run>();
    const tool = entry ?? standIn(run);
    const active: ActiveRun = {
      run,
      entry: tool,
      limits: limitsFor({ entry: tool, can: this.deps.executor.capabilities, defaults: this.options.defaults, maxLogBytes: this.options.maxLogBytes }),
      spawned: false,
      exit: { exitCode: null, signal: null, usage: null },
      error: refusal,
      artifacts: [],
      summary: null,
      finished: ended.promise,
      markStarted: () => started.resolve(),
    };
    this.active.set(runId, active);
    this.supervise(active, done).then(ended.resolve, ended.reject);
    active.finished.catch((e: unknown) => this.options.onError(`recording the end of run ${runId} failed`, e));
    await started.promise;
    return true;
  }

  /** Stops a run going here (SIGTERM, SIGKILL after the grace); its final run once it has ended. Undefined when it is not here. */
  stop(runId: string, reason: StopReason, by: string | null): Promise<Run> | undefined {
    const active = this.active.get(runId);
    return active && this.requestStop(active, reason, by);
  }

  /** Ends a run the fleet counted lost (asked once: a stop under way keeps its grace); whether it began to end it. */
  abandon(runId: string): boolean {
    const active = this.active.get(runId);
    // One that ended by itself is only being recorded: its record keeps the fleet's judgment.
    if (!active || active.stop || active.exited) return false;
    void this.requestStop(active, 'lost', null).catch(() => undefined);
    return true;
  }

  /** Lets the running runs finish for up to `graceMs`, then stops what is left (reason `shutdown`). */
  async shutdown(graceMs: number): Promise<void> {
    const finishing = [...this.active.values()].map((a) => a.finished.catch(() => undefined));
    if (graceMs > 0) await Promise.race([Promise.all(finishing), sleep(graceMs)]);
    await Promise.all([...this.active.values()].map((a) => this.requestStop(a, 'shutdown', null).catch(() => undefined)));
  }

  private async supervise(active: ActiveRun, done: () => void): Promise<Run> {
    try {
      const dirs = await this.directories(active);
      if (active.error) throw new Error(active.error);
      const proc = await this.spawn(active, dirs);
      await this.persistRunning(active, proc);
      this.armLimits(active);
      const pumped = this.pump(active, proc);
      await this.awaitExit(active, proc);
      await this.drain(proc, pumped);
      await this.collect(active);
      active.summary = await summarize(active, { store: this.deps.records.store, artifactsDir: this.deps.paths.artifacts, onError: this.options.onError });
    } catch (e) {
      await this.failed(active, e);
    }
    this.disarm(active);
    return this.finalRecord(active, done);
  }

  /** Directories and writer: the log's, the run's own, and the log writer (a failure from here on is written to the log). */
  private async directories(active: ActiveRun): Promise<RunDirsHere> {
    const { paths } = this.deps;
    const { entry, limits } = active;
    const runId = active.run.run_id;
    await mkdir(path.dirname(paths.log(runId)), { recursive: true });
    const workDir = paths.work(runId);
    const cacheDir = entry.cache ? paths.cache(entry.cache) : null;
    const user = entry.run_as_root ? null : this.deps.executor.runAs;
    active.writer = LogWriter.create(paths.log(runId), limits.log_bytes, this.options.logTimes);
    await makeRunDirs({ logDir: this.options.logDir, workDir, artifactsDir: paths.artifacts(runId), cacheDir }, user, !limits.sandbox);
    return { workDir, cacheDir, user };
  }

  private async spawn(active: ActiveRun, { workDir, cacheDir, user }: RunDirsHere): Promise<RunningProcess> {
    const { entry, limits } = active;
    const runId = active.run.run_id;
    active.argv = this.deps.intake.argv(entry, active.run);
    const proc = await this.deps.executor.spawn({
      runId,
      argv: active.argv,
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
      sandbox: sandboxFor({ entry, base: this.options.sandbox, limits, writable: [workDir, this.deps.paths.artifacts(runId), ...(cacheDir ? [cacheDir] : [])] }),
      runAsRoot: entry.run_as_root,
    });
    active.spawned = true;
    active.proc = proc;
    // Stopped while it was being spawned: stopped now, not after the writes below (which may wait out an outage).
    if (active.stop) void proc.terminate(this.options.stopGraceMs);
    return proc;
  }

  /** From here the process runs: these writes wait out a database outage rather than orphan it. */
  private async persistRunning(active: ActiveRun, proc: RunningProcess): Promise<void> {
    const { records, feed } = this.deps;
    const runId = active.run.run_id;
    await records.persist(() => records.store.setProcess(runId, proc.handle));
    active.run = (await records.persist(() => records.update(runId, { status: 'running', started_at: now(), limits: active.limits, cmd: active.argv ?? active.run.cmd }))) ?? active.run;
    this.options.onStarted?.(active.run);
    feed.publish(runId);
    active.markStarted();
  }

  /** Timeout and disk limit: each stops the run when it goes over. */
  private armLimits(active: ActiveRun): void {
    const timeoutS = active.entry.timeout_s ?? this.options.defaultTimeoutS;
    active.timer = setTimeout(() => void this.requestStop(active, 'timeout', null), timeoutS * 1000);
    const runId = active.run.run_id;
    active.watch = watchDisk(active, {
      dirs: [this.deps.paths.work(runId), this.deps.paths.artifacts(runId)],
      intervalMs: this.options.diskPollMs ?? 2000,
      stop: () => void this.requestStop(active, 'disk_limit', null).catch(() => undefined),
      onError: (e) => this.options.onError(`measuring the disk use of run ${runId} failed`, e),
    });
  }

  private disarm(active: ActiveRun): void {
    clearTimeout(active.timer);
    active.watch?.stop();
  }

  /** Writes the output to the log as it comes, telling readers after each piece. Settles at its end. */
  private pump(active: ActiveRun, proc: RunningProcess): Promise<void> {
    const { writer } = active;
    const runId = active.run.run_id;
    return proc.readOutput((chunk) => {
      writer?.write(chunk);
      this.deps.feed.publish(runId);
    });
  }

  private async awaitExit(active: ActiveRun, proc: RunningProcess): Promise<void> {
    active.exit = await proc.exited;
    active.exited = true;
    this.disarm(active);
    await checkDiskAtEnd(active);
  }

  /** Output ends once no process holds it; only one that escaped its process group can delay that. */
  private async drain(proc: RunningProcess, pumped: Promise<void>): Promise<void> {
    await Promise.race([pumped, sleep(OUTPUT_DRAIN_MS)]);
    proc.closeOutput();
    await pumped;
  }

  private async collect(active: ActiveRun): Promise<void> {
    const collected = await collectArtifacts(this.deps.paths.artifacts(active.run.run_id), active.entry.artifacts, active.limits.file_bytes);
    active.artifacts = collected.artifacts;
    for (const problem of collected.problems) active.writer?.write(Buffer.from(`oss-runner: ${problem}\n`));
  }

  /** Whatever failed, no process outlives its run: ended now, and waited for. */
  private async failed(active: ActiveRun, e: unknown): Promise<void> {
    active.error ??= active.spawned ? `supervising the run failed: ${(e as Error).message}` : `could not start: ${(e as Error).message}`;
    active.writer?.write(Buffer.from(`oss-runner: ${active.error}\n`));
    if (active.proc && !active.exited) {
      active.exit = await active.proc.terminate(this.options.stopGraceMs).catch(() => active.exit);
      active.exited = true;
      active.proc.closeOutput();
    }
  }

  /** Outcome and final record; whatever happened to the record, the slot is given back and readers are told. */
  private async finalRecord(active: ActiveRun, done: () => void): Promise<Run> {
    const { records, feed } = this.deps;
    const runId = active.run.run_id;
    const patch = finalPatch(active);
    // The run has ended whether or not its record lands now: it is answered as ended from here on.
    const ended: Run = { ...active.run, ...patch };
    let final: Run | undefined;
    try {
      final = await records.end(ended, patch, (late) => {
        feed.publish(runId);
        if (late) records.ended(late);
      });
    } finally {
      this.active.delete(runId);
      active.markStarted();
      feed.publish(runId);
      done();
    }
    if (final) records.ended(final);
    return final ?? ended;
  }

  private requestStop(active: ActiveRun, reason: StopReason, by: string | null): Promise<Run> {
    if (active.exited) return active.finished;
    active.stop ??= { reason, by };
    if (active.proc) void active.proc.terminate(this.options.stopGraceMs);
    return active.finished;
  }
}
