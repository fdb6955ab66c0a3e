/**
 * How the runs' parts are put together; main.ts and worker.ts choose which (a single server, a
 * fleet's API node, a fleet's worker) and call these.
 */
import type { Readiness } from '../../../../shared/src/schemas/health';
import type { Run } from '../../../../shared/src/schemas/run';
import type { ProcessExecutor } from '../../process/executor';
import type { RunStore } from '../../store/runStore';
import type { S3Archive } from '../archive';
import type { Catalog } from '../catalog';
import type { LogFeed } from '../logFeed';
import type { RunFeed } from '../runFeed';
import { RunArchiver } from './archiver';
import type { RunDispatcher } from './dispatcher';
import type { RunIntake } from './intake';
import { LocalDispatcher } from './localDispatcher';
import { LocalRunLogs, type RunLogs } from './logs';
import { runPaths } from './paths';
import { RunRecords } from './records';
import { RunService } from './runService';
import { RunSupervisor, type SupervisorOptions } from './supervisor';

export { RunService } from './runService';
export type { RunDispatcher } from './dispatcher';
export type { RunLogs } from './logs';

export interface RunServiceOptions extends Omit<SupervisorOptions, 'sandbox'> {
  maxConcurrentRuns: number;
  /** This server's readiness (GET /ready): while it fails, starts are answered 503 with Retry-After. */
  readiness?: () => Promise<Readiness>;
  /** Starts that go on in one turn of the event loop once ready (STARTS_PER_TURN). */
  startsPerTurn?: number;
  /** Kept readable for every tool by the sandbox (the project, whose node_modules/.bin may hold tools). */
  readable: string[];
  /** Kept from every tool by the sandbox: the server's data directory and secrets files. */
  hiddenDirs: string[];
  hiddenFiles: string[];
  /** Where finished runs are uploaded, when S3 is configured. */
  archive: S3Archive | null;
  /** Told when a run's end is recorded (logs, metrics). */
  onEnded?: (run: Run) => void;
}

/** The one way runs' records change, telling `options.onEnded` of each run's end. */
export function createRecords(store: RunStore, runFeed: RunFeed, options: Pick<RunServiceOptions, 'onError' | 'onEnded'>): RunRecords {
  const records = new RunRecords(store, runFeed, options.onError);
  const { onEnded } = options;
  if (onEnded) records.onEnded(onEnded);
  return records;
}

/** The facade over a dispatcher and its logs, archiving to S3 when configured. */
export function createRunService(deps: { records: RunRecords; catalog: Catalog; dispatcher: RunDispatcher; logs: RunLogs }, options: RunServiceOptions): RunService {
  const paths = runPaths(options.logDir);
  const { records, logs } = deps;
  const archiver = options.archive ? new RunArchiver(options.archive, { records, logPath: (id) => logs.logPath(id), paths, onError: options.onError }) : null;
  return new RunService({ ...deps, paths, archiver }, { readiness: options.readiness, startsPerTurn: options.startsPerTurn });
}

/**
 * Runs on a machine that runs the tools itself: a single server (`intake`: the runs it records) or a
 * fleet's worker (the runs it claims). `feed` tells the log's readers (on a worker, also the log bus).
 */
export function createLocalRuns(
  deps: { store: RunStore; catalog: Catalog; executor: ProcessExecutor; feed: LogFeed; runFeed: RunFeed; intake: RunIntake },
  options: RunServiceOptions,
): { runs: RunService; dispatcher: LocalDispatcher; logs: RunLogs; records: RunRecords } {
  const { store, catalog, executor, feed, intake } = deps;
  const paths = runPaths(options.logDir);
  const records = createRecords(store, deps.runFeed, options);
  const sandbox = { readable: options.readable, hiddenDirs: options.hiddenDirs, hiddenFiles: options.hiddenFiles };
  const supervisor = new RunSupervisor({ records, catalog, executor, feed, intake, paths }, { ...options, sandbox });
  const dispatcher = new LocalDispatcher(
    {
      launcher: supervisor,
      catalog,
      recordStop: async (run, stoppedBy) => {
        const stopped = await records.update(run.run_id, { status: 'stopped', end_reason: 'stopped', stopped_by: stoppedBy, finished_at: new Date().toISOString() });
        feed.publish(run.run_id);
        return stopped ?? run;
      },
    },
    { maxConcurrentRuns: options.maxConcurrentRuns, logDir: options.logDir, limitsHeldElsewhere: intake.holdsLimits },
  );
  const logs = new LocalRunLogs({ paths, store, records, live: supervisor });
  return { runs: createRunService({ records, catalog, dispatcher, logs }, options), dispatcher, logs, records };
}
