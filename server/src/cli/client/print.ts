/** What the CLI prints for people: tables of tools and runs, and a run's summary once it has ended. */
import type { Run } from '../../../../shared/src/schemas/run';
import type { SeverityCounts } from '../../../../shared/src/schemas/summary';
import type { Tool } from '../../../../shared/src/schemas/tool';

/** Rows as columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

export const toolsTable = (tools: Tool[]) =>
  table([['NAME', 'AVAILABLE', 'DESCRIPTION'], ...tools.map((t) => [t.name, t.available ? 'yes' : `no: ${t.unavailable_reason ?? ''}`, t.description])]);

export const runsTable = (runs: Run[]) =>
  table([['RUN_ID', 'TOOL', 'STATUS', 'EXIT', 'CREATED'], ...runs.map((r) => [r.run_id, r.name, r.status, r.exit_code === null ? (r.signal ?? '-') : String(r.exit_code), r.created_at])]);

const counts = (c: SeverityCounts) => `${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown (${c.total} in all)`;

/** A few lines on how a run ended and what its reports say. */
export function summaryLines(run: Run): string[] {
  const seconds = run.started_at && run.finished_at ? ` in ${((Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000).toFixed(1)} s` : '';
  const how = [run.exit_code !== null ? `exit ${run.exit_code}` : run.signal, run.outcome && `outcome ${run.outcome}`, run.end_reason && run.end_reason !== 'exit' && `end ${run.end_reason}`].filter(Boolean).join(', ');
  const lines = [`run ${run.run_id} (${run.name}) ${run.status}${how ? ` (${how})` : ''}${seconds}`];
  if (run.error) lines.push(`error: ${run.error}`);
  const s = run.summary;
  if (s?.findings) lines.push(`findings: ${counts(s.findings)}`);
  if (s?.new_since_previous) lines.push(`new since run ${s.new_since_previous.run_id}: ${counts(s.new_since_previous.findings)}`);
  if (s?.passed !== null && s?.passed !== undefined) lines.push(`checks passed: ${s.passed}${s.manual ? `, manual: ${s.manual}` : ''}`);
  if (s?.components !== null && s?.components !== undefined) lines.push(`components: ${s.components}`);
  if (s?.hardening_index !== null && s?.hardening_index !== undefined) lines.push(`hardening index: ${s.hardening_index}, warnings: ${s.warnings ?? 0}, suggestions: ${s.suggestions ?? 0}`);
  for (const note of s?.notes ?? []) lines.push(`note: ${note}`);
  for (const a of run.artifacts) lines.push(`artifact: ${a.name} (${a.size} bytes)`);
  if (run.log_truncated) lines.push('the log was truncated (over its cap)');
  return lines;
}
