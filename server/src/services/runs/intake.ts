/**
 * How a dispatched run is taken and made ready where it runs, chosen once at the composition root: a
 * single server runs what it recorded at the start; a fleet's worker claims the run and checks it on
 * its own machine (the API node that recorded it could not).
 */
import type { Run } from '../../../../shared/src/schemas/run';
import type { RunStore } from '../../store/runStore';
import type { Catalog, ToolEntry } from '../catalog';
import { buildArgv, validateParams } from '../params';

export interface RunIntake {
  /** Takes the run for this node: undefined when there is none to take (stopped meanwhile, another node has it). */
  take(runId: string): Promise<Run | undefined>;
  /** Why the tool cannot run here (null: it can). */
  refusal(entry: ToolEntry): string | null;
  /** The argv to run (throws on parameters this machine refuses). */
  argv(entry: ToolEntry, run: Run): string[];
}

/** A single server: the run as recorded, its argv fixed at the start (it survives a restart). */
export function recordedIntake(store: RunStore): RunIntake {
  return {
    take: (runId) => store.get(runId),
    refusal: () => null,
    argv: (_entry, run) => run.cmd,
  };
}

/** A worker: claims the run in the fleet's database; installed, limits enforceable and paths checked here. */
// eslint-disable-next-line max-params -- called from worker.ts, changed elsewhere meanwhile (issue 18: an options object after the fleet work merges)
export function claimingIntake(claim: (runId: string) => Promise<Run | undefined>, catalog: Catalog, logDir: string, artifactsDir: (runId: string) => string): RunIntake {
  return {
    take: claim,
    refusal: (entry) => catalog.unavailableReason(entry),
    argv: (entry, run) => buildArgv({ cmd: entry.cmd, specs: entry.params, values: validateParams(entry.params, run.params, [logDir]), artifactsDir: artifactsDir(run.run_id) }),
  };
}
