/** What a `run.ended` delivery says: our JSON (the run, its summary, links), or a Slack-compatible message. */
import type { Run } from '../../../../shared/src/schemas/run';
import { SEVERITIES } from '../../../../shared/src/schemas/summary';
import type { RunEndedEvent, WebhookFormat } from '../../../../shared/src/schemas/webhook';

export type RunLinks = RunEndedEvent['links'];

/** Links to a run on a server reached at `base` (PUBLIC_URL, which may carry a path). */
export function runLinks(base: string, runId: string): RunLinks {
  const root = base.replace(/\/+$/, '');
  const id = encodeURIComponent(runId);
  return { run: `${root}/ui/runs/${id}`, log: `${root}/runs/${id}/log`, api: `${root}/runs/${id}` };
}

/** "3 critical, 1 high" from a summary's counts (only the severities found). */
function countsText(counts: Record<string, number>): string {
  return SEVERITIES.filter((s) => (counts[s] ?? 0) > 0)
    .map((s) => `${counts[s]} ${s}`)
    .join(', ');
}

/** Slack's mrkdwn gives &, < and > meanings: plain text has them escaped. */
const escaped = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** One line for people: the tool, how it ended, what it found. */
function slackText(run: Run, links: RunLinks, appName: string): string {
  const how = run.outcome === 'findings' ? 'ended with findings' : run.status === 'succeeded' ? 'succeeded' : `ended: ${run.status}`;
  const parts = [`*${escaped(appName)}*: <${links.run}|${escaped(run.name)}> ${how}${run.exit_code === null ? '' : ` (exit code ${run.exit_code})`}`];
  const findings = run.summary?.findings;
  if (findings?.total) parts.push(`findings: ${countsText(findings)}`);
  const fresh = run.summary?.new_since_previous?.findings;
  if (fresh?.total) parts.push(`new since the previous run: ${countsText(fresh)}`);
  if (run.error) parts.push(escaped(run.error));
  return parts.join('\n');
}

/** The body to POST, as the endpoint's format wants it. */
export function runEndedBody({ format, run, links, appName }: { format: WebhookFormat; run: Run; links: RunLinks; appName: string }): string {
  if (format === 'slack') return JSON.stringify({ text: slackText(run, links, appName) });
  const event: RunEndedEvent = { event: 'run.ended', run, summary: run.summary, links };
  return JSON.stringify(event);
}
