/**
 * A finished run's summary: its declared report artifacts read and merged (findings by severity,
 * components and licences, Lynis' index and warnings, Prowler's passed and manual checks), and
 * compared with the previous run of the same tool finding by finding ("3 new critical"). A report
 * that is missing or does not parse becomes a note; the summary never fails the run.
 */
import { readFile, stat } from 'node:fs/promises';
import { SEVERITIES, type ReportFormat, type RunSummary, type Severity, type SeverityCounts } from '../../../../shared/src/schemas/summary';
import { EMPTY, parseReport, ReportError, type ParsedReport } from './parse';

export interface ReportFile {
  artifact: string;
  format: ReportFormat;
  file: string;
}

/** Reports larger than this are not read (a note says so): parsing is in memory. */
export const MAX_REPORT_BYTES = 256 * 1024 * 1024;

const LICENSES_SHOWN = 10;

function merge(into: ParsedReport, report: ParsedReport): void {
  if (report.findings) {
    into.findings ??= new Map();
    for (const [severity, keys] of report.findings) {
      const all = into.findings.get(severity) ?? new Set<string>();
      for (const key of keys) all.add(key);
      into.findings.set(severity, all);
    }
  }
  if (report.components !== null) into.components = (into.components ?? 0) + report.components;
  if (report.licenses) {
    into.licenses ??= new Map();
    for (const [name, n] of report.licenses) into.licenses.set(name, (into.licenses.get(name) ?? 0) + n);
  }
  into.hardeningIndex ??= report.hardeningIndex;
  if (report.warnings) into.warnings = [...(into.warnings ?? []), ...report.warnings];
  if (report.suggestions !== null) into.suggestions = (into.suggestions ?? 0) + report.suggestions;
  if (report.passed !== null) into.passed = (into.passed ?? 0) + report.passed;
  if (report.manual !== null) into.manual = (into.manual ?? 0) + report.manual;
}

async function readReport(report: ReportFile): Promise<ParsedReport> {
  const { size } = await stat(report.file);
  if (size > MAX_REPORT_BYTES) throw new ReportError(`${size} bytes is more than the ${MAX_REPORT_BYTES} a summary reads`);
  return parseReport(report.format, await readFile(report.file, 'utf8'));
}

/** Reads and merges reports; what could not be read goes to `notes`. */
async function readAll(reports: ReportFile[], notes: string[], what: string): Promise<ParsedReport> {
  const merged: ParsedReport = { ...EMPTY };
  for (const report of reports) {
    try {
      merge(merged, await readReport(report));
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file is gone' : (e as Error).message;
      notes.push(`${what}${report.artifact} (${report.format}): ${reason}`);
    }
  }
  return merged;
}

function counts(findings: Map<Severity, Set<string>>, keep: (key: string) => boolean = () => true): SeverityCounts {
  const c = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0, total: 0 };
  for (const severity of SEVERITIES) {
    for (const key of findings.get(severity) ?? []) {
      if (!keep(key)) continue;
      c[severity]++;
      c.total++;
    }
  }
  return c;
}

/**
 * The summary of a run's reports (null when it declares none that it wrote), compared with the
 * previous run of the tool when its reports are still there.
 */
export async function summarize(reports: ReportFile[], previous: { runId: string; reports: ReportFile[] } | null): Promise<RunSummary | null> {
  if (!reports.length) return null;
  const notes: string[] = [];
  const now = await readAll(reports, notes, '');
  let newSincePrevious: RunSummary['new_since_previous'] = null;
  if (previous && previous.reports.length) {
    const before = await readAll(previous.reports, notes, `previous run ${previous.runId}: `);
    const seen = new Set<string>();
    for (const keys of before.findings?.values() ?? []) for (const key of keys) seen.add(key);
    const seenWarnings = new Set(before.warnings);
    newSincePrevious = {
      run_id: previous.runId,
      findings: counts(now.findings ?? new Map<Severity, Set<string>>(), (key) => !seen.has(key)),
      warnings: now.warnings ? now.warnings.filter((w) => !seenWarnings.has(w)).length : null,
    };
  }
  const licenses = now.licenses
    ? [...now.licenses.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, LICENSES_SHOWN)
        .map(([name, count]) => ({ name, count }))
    : null;
  return {
    reports: reports.map(({ artifact, format }) => ({ artifact, format })),
    findings: now.findings ? counts(now.findings) : null,
    passed: now.passed,
    manual: now.manual,
    components: now.components,
    licenses,
    hardening_index: now.hardeningIndex,
    warnings: now.warnings ? now.warnings.length : null,
    suggestions: now.suggestions,
    new_since_previous: newSincePrevious,
    notes,
  };
}
