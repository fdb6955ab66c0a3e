/**
 * Runs, as the transports see them: starting a catalog tool (validated, at most once per
 * Idempotency-Key), reading, listing, stopping, following changes, and recovering at start-up. Where
 * runs go (this process or a fleet's workers) is the dispatcher's business, and where their logs are
 * the RunLogs'; both are chosen at the composition root. Knows nothing of tRPC, HTTP or WebSocket.
 */
import { timesPath } from '../arrivalTimes';
import { randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readiness, RunCounts } from '../../../../shared/src/schemas/health';
import { isFinal, type Run, type RunList, type RunListInput, RunListInput as RunListSchema } from '../../../../shared/src/schemas/run';
import { badRequest, conflict, notFound, unavailable } from '../../errors';
import { killLeftover } from '../../process/executor';
import { TurnBudget } from '../../lib/turnBudget';
import { InvalidCursorError } from '../../store/cursor';
import type { Catalog, ToolEntry } from '../catalog';
import type { LogState } from '../logStream';
import { buildArgv } from '../params';
import { runChanges } from '../runFeed';
import type { RunArchiver } from './archiver';
import type { QueuedRun, RunDispatcher } from './dispatcher';
import type { RunLogs } from './logs';
import type { RunPaths } from './paths';
import type { RunRecords } from './records';

/** Seconds a start refused for readiness asks the client to wait: for the database to answer, or for space to be freed. */
const NOT_READY_RETRY_S = { database: 5, disk: 30 };

/** STARTS_PER_TURN's default. */
const DEFAULT_STARTS_PER_TURN = 4;

/** How long an Idempotency-Key keeps answering with the same run. */
const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

const now = () => new Date().toISOString();

/** What a start asks for: a catalog tool and its parameters. */
export type StartInput = { name: string; params?: Record<string, unknown> | undefined };

export class RunService {
  private accepting = true;
  /** Starts woken together (one readiness probe answers all that asked meanwhile) go on a few per turn. */
  private readonly turns: TurnBudget;

  constructor(
    private readonly deps: {
      records: RunRecords;
      catalog: Catalog;
      dispatcher: RunDispatcher;
      logs: RunLogs;
      paths: RunPaths;
      /** S3 archiving, when configured. */
      archiver: RunArchiver | null;
    },
    private readonly options: {
      /** This server's readiness (GET /ready): while it fails, starts are answered 503 with Retry-After. */
      readiness?: (() => Promise<Readiness>) | undefined;
      /** Starts that go on in one turn of the event loop once ready (STARTS_PER_TURN). */
      startsPerTurn?: number | undefined;
    } = {},
  ) {
    this.turns = new TurnBudget(options.startsPerTurn ?? DEFAULT_STARTS_PER_TURN);
  }

  logPath(runId: string): string {
    return this.deps.logs.logPath(runId);
  }

  /** The log file to serve whole: on an API node, once the log bus has brought all of a finished run's log. */
  async logFile(runId: string): Promise<string> {
    await this.deps.logs.logComplete(runId);
    return this.logPath(runId);
  }

  /** How far the log may be read, and the final run once it is complete (for the log streamer). */
  logState(runId: string): Promise<LogState> {
    return this.deps.logs.logState(runId);
  }

  /** Where a tool writes the files it declares (`{{artifacts}}` in its cmd). */
  artifactsDir(runId: string): string {
    return this.deps.paths.artifacts(runId);
  }

  /** Where a listed artifact of a run is, or a 404 when the run has no artifact of that name. */
  async artifactPath(runId: string, name: string): Promise<{ file: string; type: string; url: string | null; size: number }> {
    const run = await this.get(runId);
    const artifact = run.artifacts.find((a) => a.name === name);
    if (!artifact) throw notFound(`name: run "${runId}" has no artifact "${name}"${run.artifacts.length ? ` (it has ${run.artifacts.map((a) => a.name).join(', ')})` : ''}`);
    return { file: path.join(this.artifactsDir(runId), artifact.name), type: artifact.type, url: artifact.url ?? null, size: artifact.size };
  }

  /** Runs being uploaded to S3 now: retention leaves them alone until they are done. */
  get uploading(): ReadonlySet<string> {
    return this.deps.archiver?.uploading ?? new Set();
  }

  /** Deletes a finished run's files: its log, working directory, artifacts and S3 copies. */
  async removeFiles(runId: string): Promise<void> {
    await this.removeLocalFiles(runId);
    await this.deps.archiver?.remove(runId);
  }

  /** Deletes what this node keeps of a finished run: its log, working directory and artifacts (not S3's copies). */
  async removeLocalFiles(runId: string): Promise<void> {
    const { paths } = this.deps;
    await Promise.all([this.logPath(runId), timesPath(this.logPath(runId)), paths.work(runId), paths.artifacts(runId)].map((p) => rm(p, { recursive: true, force: true })));
  }

  /**
   * Checks a start without making it, as `start` does: the tool exists (404), is available here (409)
   * and its parameters are valid (400 naming each). Answers the entry and the parameters, defaults filled in.
   */
  admit(input: StartInput): { entry: ToolEntry; params: Record<string, unknown> } {
    const entry = this.tool(input.name);
    return { entry, params: this.deps.dispatcher.admit(entry, input.params) };
  }

  private tool(name: string): ToolEntry {
    const entry = this.deps.catalog.get(name);
    if (!entry) throw notFound(`name: unknown tool "${name}" (GET /opensource-list lists the tools)`);
    return entry;
  }

  /** Starts a catalog tool; the run is `running` on return, or `queued` when every slot is taken. */
  async start(input: StartInput, requestedBy: string | null, idempotencyKey?: string | null): Promise<Run> {
    if (!this.accepting) throw unavailable('the server is shutting down and starts no new runs: try again (another instance, or this one once restarted)', 5);
    const { dispatcher, records } = this.deps;
    const entry = this.tool(input.name);
    await this.checkReady();
    await this.turns.pass();
    const params = dispatcher.admit(entry, input.params);
    const runId = randomUUID();
    // The argv that will run, each parameter value in its own element, fixed now (it survives a restart).
    const run = newRun({ run_id: runId, name: entry.name, cmd: buildArgv({ cmd: entry.cmd, specs: entry.params, values: params, artifactsDir: this.artifactsDir(runId) }), params, requested_by: requestedBy });
    const claim = idempotencyKey
      ? { principal: requestedBy ?? 'anonymous', key: idempotencyKey, fingerprint: JSON.stringify([entry.name, params]), ttlMs: IDEMPOTENCY_TTL_MS }
      : undefined;
    const stored = await records.store.insert(run, claim);
    if (stored.runId !== run.run_id) {
      // The same key from the same caller: the run it started then, if it asked for the same thing.
      if (stored.fingerprint !== claim?.fingerprint) throw conflict('Idempotency-Key: already used for a different start (another tool or other parameters)');
      return this.get(stored.runId);
    }
    records.publish(run);
    await dispatcher.dispatch(run);
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

  async get(runId: string): Promise<Run> {
    const run = await this.deps.records.store.get(runId);
    if (!run) throw notFound(`run_id: no run "${runId}"`);
    return this.present(run);
  }

  async list(input: RunListInput): Promise<RunList> {
    const filter = RunListSchema.parse(input);
    try {
      const page = await this.deps.records.store.list(filter);
      return { ...page, items: await Promise.all(page.items.map((r) => this.present(r))) };
    } catch (e) {
      if (e instanceof InvalidCursorError) throw badRequest(`cursor: ${e.message}`);
      throw e;
    }
  }

  /** A run as answered: as it ended when its record has not landed, its log's live length, its S3 links. */
  private async present(run: Run): Promise<Run> {
    const shown = this.deps.logs.withLiveLength(this.deps.records.asEnded(run));
    return this.deps.archiver ? this.deps.archiver.withLinks(shown) : shown;
  }

  /** Every run as it is created, starts and ends, until `signal` aborts. */
  changes(signal: AbortSignal): AsyncGenerator<Run> {
    return runChanges(this.deps.records.feed, signal);
  }

  counts(): Promise<RunCounts> {
    return this.deps.records.store.counts();
  }

  /**
   * Stops a queued or running run: SIGTERM to every process of it, SIGKILL after the grace period.
   * Resolves with the final run, like `docker stop`. A run that has ended is a conflict.
   */
  async stop(runId: string, stoppedBy: string | null): Promise<Run> {
    // Taken from the queue and being launched: stopped once it is (it holds a slot, not yet a process).
    await this.deps.dispatcher.launched(runId);
    const run = await this.get(runId);
    if (isFinal(run.status)) throw conflict(`run_id: run "${runId}" has already ended (${run.status})`);
    return this.deps.dispatcher.stop(run, stoppedBy);
  }

  /**
   * At start-up of a single server: runs that were `running` when it died are `lost` (any process of
   * theirs still alive is killed first); runs still `queued` are queued again. (A fleet's nodes
   * recover through their leases instead.)
   */
  async recover(): Promise<{ lost: number; requeued: number }> {
    const { records } = this.deps;
    let lost = 0;
    const queued: QueuedRun[] = [];
    for (const { run, process } of await records.store.unfinished()) {
      if (run.status === 'queued') {
        queued.push(run);
        continue;
      }
      if (process) killLeftover(process);
      const error = 'the server stopped while this run was going; its processes were ended';
      // The log says why it ends there, as the record does.
      const logBytes = await appendLine(this.logPath(run.run_id), `oss-runner: ${error} (the run is lost)`);
      await records.update(run.run_id, { status: 'lost', end_reason: 'lost', finished_at: now(), log_bytes: logBytes, error });
      await records.store.setProcess(run.run_id, null);
      lost++;
    }
    this.deps.dispatcher.requeue(queued);
    return { lost, requeued: queued.length };
  }

  /** Runs going now (taking a slot). */
  get runningCount(): number {
    return this.deps.dispatcher.runningCount;
  }

  /** Runs waiting for a slot in this process. */
  get queuedCount(): number {
    return this.deps.dispatcher.queuedCount;
  }

  /** From now on a start answers 503; queued runs stay queued (in the store) for the next start. */
  stopAccepting(): void {
    this.accepting = false;
    this.deps.records.stopAccepting();
    this.deps.dispatcher.stopAccepting();
  }

  /**
   * Starts no new runs, lets the running ones finish for up to `graceMs`, then stops what is left
   * (recorded as `stopped`, reason `shutdown`, each within STOP_GRACE_S). Waits for uploads under way.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.stopAccepting();
    await this.deps.dispatcher.shutdown(graceMs);
    await this.deps.records.drain();
    await this.deps.archiver?.drain();
  }
}

/** The record of a new run, `queued`. */
export function newRun(init: Pick<Run, 'run_id' | 'name' | 'cmd' | 'params' | 'requested_by'>): Run {
  return {
    run_id: init.run_id,
    name: init.name,
    cmd: init.cmd,
    params: init.params,
    status: 'queued',
    exit_code: null,
    signal: null,
    created_at: now(),
    started_at: null,
    finished_at: null,
    requested_by: init.requested_by,
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
}

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
