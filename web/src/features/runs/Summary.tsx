/** What a run's reports found: a line for the runs list, a section for the run page. */
import { SEVERITIES } from '../../../../shared/src/schemas/enums';
import type { RunSummary, SeverityCounts } from '../../../../shared/src/schemas/summary';
import { linkProps, runPath } from '../../lib/router';

function severityChips(counts: SeverityCounts, suffix = '') {
  return SEVERITIES.filter((s) => counts[s] > 0).map((s) => (
    <span key={s} className={`sev sev-${s}`}>
      {counts[s]} {s}
      {suffix}
    </span>
  ));
}

/** One line: findings by severity (or none), what is new, Prowler's passed checks, components, the hardening index. */
export function SummaryLine({ summary }: { summary: RunSummary }) {
  const parts = [];
  if (summary.findings) parts.push(summary.findings.total ? severityChips(summary.findings) : <span key="none">no findings</span>);
  const fresh = summary.new_since_previous;
  if (fresh && fresh.findings.total > 0) parts.push(<span key="new" className="new">+{fresh.findings.total} new</span>);
  if (summary.passed !== null) parts.push(<span key="passed">{summary.passed} passed</span>);
  if (summary.manual) parts.push(<span key="manual">{summary.manual} manual</span>);
  if (summary.components !== null) parts.push(<span key="components">{summary.components} components</span>);
  if (summary.hardening_index !== null) parts.push(<span key="index">hardening {summary.hardening_index}</span>);
  if (summary.warnings) parts.push(<span key="warnings">{summary.warnings} warnings</span>);
  if (summary.notes.length) parts.push(<span key="notes" className="muted">{summary.notes.length} unreadable</span>);
  return <span className="summary-line">{parts}</span>;
}

export function SummarySection({ summary }: { summary: RunSummary }) {
  const fresh = summary.new_since_previous;
  return (
    <section className="card summary" aria-label="Summary">
      <h3>Summary</h3>
      <p className="muted">From {summary.reports.map((r) => `${r.artifact} (${r.format})`).join(', ')}</p>
      {summary.findings && <p>{summary.findings.total ? <>Findings: {severityChips(summary.findings)} ({summary.findings.total} in all)</> : 'No findings.'}</p>}
      {fresh && (
        <p data-testid="new-since-previous">
          Since the <a {...linkProps(runPath(fresh.run_id))}>previous run</a>:{' '}
          {fresh.findings.total ? severityChips(fresh.findings, ' new') : 'nothing new'}
          {fresh.warnings ? `, ${fresh.warnings} new warnings` : ''}
        </p>
      )}
      {summary.passed !== null && (
        <p>
          Checks passed <strong>{summary.passed}</strong>
          {summary.manual !== null && `, ${summary.manual} to review by hand`}
        </p>
      )}
      {summary.components !== null && <p>{summary.components} components</p>}
      {summary.licenses && summary.licenses.length > 0 && <p>Licences: {summary.licenses.map((l) => `${l.name} (${l.count})`).join(', ')}</p>}
      {summary.hardening_index !== null && (
        <p>
          Hardening index <strong>{summary.hardening_index}</strong>
          {summary.warnings !== null && `, ${summary.warnings} warnings`}
          {summary.suggestions !== null && `, ${summary.suggestions} suggestions`}
        </p>
      )}
      {summary.notes.map((note) => (
        <p key={note} className="error">
          {note}
        </p>
      ))}
    </section>
  );
}
