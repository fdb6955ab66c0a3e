/** Which ended runs an endpoint hears of (its filter), and the "new findings at or above" rule. */
import type { Run } from '../../../../shared/src/schemas/run';
import { SEVERITIES, type Severity } from '../../../../shared/src/schemas/summary';
import type { WebhookFilter } from '../../../../shared/src/schemas/webhook';

/**
 * Whether the run found something new at `min` or above: counted in the summary's `new_since_previous`,
 * or, with no previous run to compare with, among all its findings (the first scan's are all new).
 */
export function hasNewFindings(run: Run, min: Severity): boolean {
  const summary = run.summary;
  const counts = summary?.new_since_previous ? summary.new_since_previous.findings : summary?.findings;
  if (!counts) return false;
  // SEVERITIES runs from critical down to unknown: the threshold and everything before it.
  return SEVERITIES.slice(0, SEVERITIES.indexOf(min) + 1).some((s) => counts[s] > 0);
}

/** Every condition the filter sets holds for the run (an empty list sets none). */
export function matches(filter: WebhookFilter, run: Run): boolean {
  if (filter.tools.length && !filter.tools.includes(run.name)) return false;
  if (filter.statuses.length && !filter.statuses.includes(run.status)) return false;
  if (filter.outcomes.length && (!run.outcome || !filter.outcomes.includes(run.outcome))) return false;
  if (filter.new_findings_min_severity && !hasNewFindings(run, filter.new_findings_min_severity)) return false;
  return true;
}
