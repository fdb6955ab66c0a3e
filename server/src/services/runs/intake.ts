/**
 * How a dispatched run is taken and made ready where it runs, chosen once at the composition root: a
 * single server runs what it recorded at the start; a fleet's worker claims the run and checks it on
 * its own machine (the API node that recorded it could not).
 */
import type { Run } from '../../../../shared/src/schemas/run';
import type { RunStore } from '../../store/runStore';
import type { Catalog, ToolEntry } from '../catalog';
import { buildArgv, validateParams } from '../params';

/**
 * Thrown by `take` when the run cannot be taken yet: its tool's `concurrency` or its `cache`, held
 * across a fleet, is taken, or an older run of its tool waits first. The run stays queued.
 */
export class RunMustWait extends Error {}

export interface RunIntake {
  /**
   * Takes the run for this node: undefined when there is none to take (stopped meanwhile, another node
   * has it); throws RunMustWait when it must wait its turn.
   */
  take(runId: string): Promise<Run | undefined>;
  /** Whether `take` holds a tool's `concurrency` and `cache` itself (across a fleet), so the dispatcher need not. */
  readonly holdsLimits: boolean;
  /** Why the tool cannot run here (null: it can). */
  refusal(entry: ToolEntry): string | null;
  /** The argv to run (throws on parameters this machine refuses). */
  argv(entry: ToolEntry, run: Run): string[];
}

/** A single server: the run as recorded, its argv fixed at the start (it survives a restart). */
export function recordedIntake(store: RunStore): RunIntake {
  return {
    take: (runId) => store.get(runId),
    holdsLimits: false,
    refusal: () => null,
    argv: (_entry, run) => run.cmd,
  };
}

/**
 * A worker: claims the run in the fleet's database, which holds its tool's `concurrency` and `cache`
 * across the fleet; installed, limits enforceable and paths checked here.
 */
export function claimingIntake({ claim, catalog, logDir, artifactsDir }: { claim: (runId: string) => Promise<Run | undefined>; catalog: Catalog; logDir: string; artifactsDir: (runId: string) => string }): RunIntake {
  return {
    take: claim,
    holdsLimits: true,
    refusal: (entry) => catalog.unavailableReason(entry),
    argv: (entry, run) => buildArgv({ cmd: entry.cmd, specs: entry.params, values: validateParams(entry.params, run.params, [logDir]), artifactsDir: artifactsDir(run.run_id) }),
  };
}
