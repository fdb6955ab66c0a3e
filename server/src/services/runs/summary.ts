/**
 * A run's report artifacts read into a summary (in a worker thread), compared with the tool's
 * previous summarised run on the same parameters.
 */
import path from 'node:path';
import { isFinal, type Run } from '../../../../shared/src/schemas/run';
import type { RunStore } from '../../store/runStore';
import type { ReportFile } from '../reports/summary';
import { summarizeInWorker } from '../reports/worker';
import type { ActiveRun } from './activeRun';

/** JSON with object keys sorted: the same parameters compare equal whichever store (jsonb reorders keys) gave them. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

/** The summary of a run's reports (`artifacts`: what it left), or null when it has none or they cannot be read. */
export async function summarize(
  { entry, run, artifacts }: Pick<ActiveRun, 'entry' | 'run' | 'artifacts'>,
  deps: { store: RunStore; artifactsDir: (runId: string) => string; onError: (message: string, e: unknown) => void },
): Promise<Run['summary']> {
  const runId = run.run_id;
  const reportsOf = (id: string, listed: Run['artifacts']): ReportFile[] =>
    entry.artifacts.flatMap((a) => (a.report && listed.some((l) => l.name === a.name) ? [{ artifact: a.name, format: a.report, file: path.join(deps.artifactsDir(id), a.name) }] : []));
  const reports = reportsOf(runId, artifacts);
  if (!reports.length) return null;
  // The previous run of the same tool on the same parameters: another target is not "the last time".
  const { items } = await deps.store.list({ name: entry.name, limit: 50 });
  const params = canonical(run.params);
  const previous = items.find((r) => r.run_id !== runId && isFinal(r.status) && r.summary && canonical(r.params) === params);
  try {
    return await summarizeInWorker(reports, previous ? { runId: previous.run_id, reports: reportsOf(previous.run_id, previous.artifacts) } : null);
  } catch (e) {
    deps.onError(`summarising run ${runId} failed`, e);
    return null;
  }
}
