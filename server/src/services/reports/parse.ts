/**
 * Readers of the report formats scanners write: Trivy JSON, Grype JSON, SARIF 2.1 (any tool),
 * CycloneDX JSON, SPDX JSON, Lynis' report file and Prowler's OCSF JSON. Each answers the same shape:
 * findings as keys by severity (so two runs can be compared finding by finding), components and
 * licences, Lynis' hardening index and warnings, Prowler's passed and manual checks. A file that is
 * not the format it was declared as throws a ReportError saying why; nothing else about the run
 * depends on it.
 *
 * A key names what was found and where, as precisely as the tool says it: one vulnerability in two
 * copies of a package (two paths) is two findings, one licence in two loose files is two. An SBOM's
 * components are its packages: not the image or directory it describes, nor the operating system.
 * The tests run each reader on reports the tools themselves published (fixtures/SOURCES.md).
 */
import type { ReportFormat, Severity } from '../../../../shared/src/schemas/summary';

export interface ParsedReport {
  /** One key per finding (what it is and where), by severity. */
  findings: Map<Severity, Set<string>> | null;
  components: number | null;
  licenses: Map<string, number> | null;
  hardeningIndex: number | null;
  /** Lynis warnings, one per `warning[]=` line as Lynis counts them: `test id|message|details|solution|`. */
  warnings: string[] | null;
  suggestions: number | null;
  /** Prowler checks that passed, and those it leaves to a person (MANUAL). */
  passed: number | null;
  manual: number | null;
}

export class ReportError extends Error {}

/** A report that says nothing; each reader fills in what its format tells. */
export const EMPTY: Readonly<ParsedReport> = { findings: null, components: null, licenses: null, hardeningIndex: null, warnings: null, suggestions: null, passed: null, manual: null };

/** The common severity of a scanner's word for it (Grype's Negligible and OCSF's Informational are low). */
export function severityOf(word: unknown): Severity {
  switch (typeof word === 'string' ? word.toLowerCase() : '') {
    case 'critical':
      return 'critical';
    case 'high':
    case 'error':
      return 'high';
    case 'medium':
    case 'moderate':
    case 'warning':
      return 'medium';
    case 'low':
    case 'negligible':
    case 'note':
    case 'info':
    case 'informational':
      return 'low';
    default:
      return 'unknown';
  }
}

/** SARIF's security-severity is a CVSS-like score: the CVSS bands. */
function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'unknown';
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arrayOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

function findingsCollector() {
  const findings = new Map<Severity, Set<string>>();
  const add = (severity: Severity, key: string) => {
    let keys = findings.get(severity);
    if (!keys) findings.set(severity, (keys = new Set()));
    keys.add(key);
  };
  return { findings, add };
}

function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ReportError(`not valid JSON (${(e as Error).message})`);
  }
}

function parseJson(text: string, format: string): Json {
  const doc = parseJsonValue(text);
  if (!isObject(doc)) throw new ReportError(`not a ${format} report: the document is not an object`);
  return doc;
}

function trivy(text: string): ParsedReport {
  const doc = parseJson(text, 'Trivy JSON');
  if (!('Results' in doc) && !('SchemaVersion' in doc)) throw new ReportError('not a Trivy JSON report: it has neither SchemaVersion nor Results');
  const { findings, add } = findingsCollector();
  for (const result of arrayOf(doc.Results)) {
    if (!isObject(result)) continue;
    const target = str(result.Target);
    // One finding per copy of the package: Trivy reports each installed copy (PkgPath) on its own.
    for (const v of arrayOf(result.Vulnerabilities)) if (isObject(v)) add(severityOf(v.Severity), `vuln|${target}|${str(v.VulnerabilityID)}|${str(v.PkgID)}|${str(v.PkgName)}|${str(v.InstalledVersion)}|${str(v.PkgPath)}`);
    for (const m of arrayOf(result.Misconfigurations)) {
      if (!isObject(m) || m.Status === 'PASS') continue;
      // One finding per resource and place: the same check may fail on several in one file.
      const cause = isObject(m.CauseMetadata) ? m.CauseMetadata : {};
      add(severityOf(m.Severity), `misconfig|${target}|${str(m.ID)}|${str(cause.Resource)}|${str(cause.StartLine)}|${str(m.Message)}`);
    }
    for (const s of arrayOf(result.Secrets)) if (isObject(s)) add(severityOf(s.Severity), `secret|${target}|${str(s.RuleID)}|${str(s.StartLine)}`);
    // A licence found in a loose file has no PkgName: its FilePath says where.
    for (const l of arrayOf(result.Licenses)) if (isObject(l)) add(severityOf(l.Severity), `license|${target}|${str(l.PkgName)}|${str(l.FilePath)}|${str(l.Name)}`);
  }
  return { ...EMPTY, findings };
}

function grype(text: string): ParsedReport {
  const doc = parseJson(text, 'Grype JSON');
  if (!Array.isArray(doc.matches)) throw new ReportError('not a Grype JSON report: it has no matches array');
  const { findings, add } = findingsCollector();
  for (const match of doc.matches) {
    if (!isObject(match)) continue;
    const vuln = isObject(match.vulnerability) ? match.vulnerability : {};
    const artifact = isObject(match.artifact) ? match.artifact : {};
    // The same package at two paths (a library inside two jars) is two artifacts, two findings.
    const paths = arrayOf(artifact.locations).map((l) => (isObject(l) ? str(l.path) : '')).sort();
    add(severityOf(vuln.severity), `vuln|${str(vuln.id)}|${str(artifact.name)}|${str(artifact.version)}|${paths.join(',')}`);
  }
  return { ...EMPTY, findings };
}

/** Severity words as Trivy writes them among a SARIF rule's tags (pkg/report/sarif.go, toProperties). */
const SEVERITY_TAGS = new Set(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN']);

/**
 * A SARIF result's severity. The tool's own word comes first when its rule's tags carry one, as
 * Trivy's do: Trivy writes UNKNOWN as level `note` with security-severity "0.0", which read alone
 * would say low. Then the security-severity score (CVSS bands; exactly 0 is unknown), then the
 * level (`note` is low).
 */
function sarifSeverity(result: Json, rule: Json): Severity {
  const properties = (o: Json): Json => (isObject(o.properties) ? o.properties : {});
  const word = arrayOf(properties(rule).tags).find((tag) => typeof tag === 'string' && SEVERITY_TAGS.has(tag));
  if (word) return severityOf(word);
  const score = str(properties(result)['security-severity']) || str(properties(rule)['security-severity']);
  if (score && Number.isFinite(Number(score))) return severityOfScore(Number(score));
  const level = str(result.level) || (isObject(rule.defaultConfiguration) ? str(rule.defaultConfiguration.level) : '') || 'warning';
  return level === 'none' ? 'unknown' : severityOf(level);
}

function sarif(text: string): ParsedReport {
  const doc = parseJson(text, 'SARIF');
  if (!str(doc.version).startsWith('2.') || !Array.isArray(doc.runs)) throw new ReportError('not a SARIF 2.x log: it needs a version "2.1.0" and a runs array');
  const { findings, add } = findingsCollector();
  for (const run of doc.runs) {
    if (!isObject(run)) continue;
    const driver = isObject(run.tool) && isObject(run.tool.driver) ? run.tool.driver : {};
    const rules = new Map<string, Json>();
    for (const rule of arrayOf(driver.rules)) if (isObject(rule)) rules.set(str(rule.id), rule);
    for (const result of arrayOf(run.results)) {
      if (!isObject(result)) continue;
      const kind = str(result.kind) || 'fail';
      if (kind !== 'fail' && kind !== 'open' && kind !== 'review') continue;
      const ruleId = str(result.ruleId) || (isObject(result.rule) ? str(result.rule.id) : '');
      const rule = rules.get(ruleId) ?? (typeof result.ruleIndex === 'number' && isObject(arrayOf(driver.rules)[result.ruleIndex]) ? (arrayOf(driver.rules)[result.ruleIndex] as Json) : {});
      const location = arrayOf(result.locations)[0];
      const physical = isObject(location) && isObject(location.physicalLocation) ? location.physicalLocation : {};
      const uri = isObject(physical.artifactLocation) ? str(physical.artifactLocation.uri) : '';
      const line = isObject(physical.region) ? str(physical.region.startLine) : '';
      add(sarifSeverity(result, rule), `${str(driver.name)}|${ruleId}|${uri}|${line}|${isObject(result.message) ? str(result.message.text) : ''}`);
    }
  }
  return { ...EMPTY, findings };
}

function countLicenses(names: Iterable<string>): Map<string, number> {
  const licenses = new Map<string, number>();
  for (const name of names) licenses.set(name, (licenses.get(name) ?? 0) + 1);
  return licenses;
}

function cyclonedx(text: string): ParsedReport {
  const doc = parseJson(text, 'CycloneDX');
  if (doc.bomFormat !== 'CycloneDX') throw new ReportError('not a CycloneDX JSON BOM: bomFormat is not "CycloneDX"');
  // What the BOM describes is metadata.component; a tool that repeats it among the components names it by its bom-ref.
  const described = isObject(doc.metadata) && isObject(doc.metadata.component) ? str(doc.metadata.component['bom-ref']) : '';
  let components = 0;
  const names: string[] = [];
  const visit = (list: unknown) => {
    for (const c of arrayOf(list)) {
      if (!isObject(c)) continue;
      visit(c.components);
      // Syft and Trivy list the image's operating system, and the lock files they read, as components: neither is a package.
      if (c.type === 'operating-system' || c.type === 'file' || (described && str(c['bom-ref']) === described)) continue;
      components++;
      for (const l of arrayOf(c.licenses)) {
        if (!isObject(l)) continue;
        const name = isObject(l.license) ? str(l.license.id) || str(l.license.name) : str(l.expression);
        if (name) names.push(name);
      }
    }
  };
  visit(doc.components);
  return { ...EMPTY, components, licenses: countLicenses(names) };
}

function spdx(text: string): ParsedReport {
  const doc = parseJson(text, 'SPDX JSON');
  if (!str(doc.spdxVersion).startsWith('SPDX-')) throw new ReportError('not an SPDX JSON document: spdxVersion is missing');
  // What the document describes (the scanned image or directory) is no package of it: named in
  // documentDescribes, or, as Syft and Trivy write, by a DESCRIBES relationship from the document.
  const described = new Set(arrayOf(doc.documentDescribes).map(str));
  const self = str(doc.SPDXID) || 'SPDXRef-DOCUMENT';
  for (const r of arrayOf(doc.relationships)) {
    if (isObject(r) && r.relationshipType === 'DESCRIBES' && str(r.spdxElementId) === self) described.add(str(r.relatedSpdxElement));
  }
  const packages = arrayOf(doc.packages).filter((p): p is Json => isObject(p) && !described.has(str(p.SPDXID)));
  const names = packages.flatMap((p) => {
    const name = [p.licenseConcluded, p.licenseDeclared].map(str).find((l) => l && l !== 'NOASSERTION' && l !== 'NONE');
    return name ? [name] : [];
  });
  return { ...EMPTY, components: packages.length, licenses: countLicenses(names) };
}

/**
 * Lynis' report file: `key=value` lines, `key[]=` for lists (warnings, suggestions). Each warning is
 * one line, as Lynis counts them (one test may warn several times, e.g. once per nameserver).
 */
function lynis(text: string): ParsedReport {
  if (!/^(lynis_version|report_version_major)=/m.test(text)) throw new ReportError('not a Lynis report file: it has no lynis_version line');
  const warnings: string[] = [];
  let suggestions = 0;
  let hardeningIndex: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('warning[]=')) warnings.push(line.slice('warning[]='.length));
    else if (line.startsWith('suggestion[]=')) suggestions++;
    else if (line.startsWith('hardening_index=')) {
      const n = Number(line.slice('hardening_index='.length));
      if (Number.isInteger(n) && n >= 0 && n <= 100) hardeningIndex = n;
    }
  }
  return { ...EMPTY, hardeningIndex, warnings, suggestions };
}

/**
 * Prowler's OCSF JSON (`<name>.ocsf.json`): an array of OCSF Detection Findings, one per check and
 * resource, whose status_code is PASS, FAIL or MANUAL (prowler/lib/outputs/ocsf/ocsf.py). Failed
 * checks are findings by their severity word; muted ones (status "Suppressed") too, as Prowler's own
 * overview counts them.
 */
function ocsf(text: string): ParsedReport {
  const doc = parseJsonValue(text);
  if (!Array.isArray(doc)) throw new ReportError('not a Prowler OCSF report: the document is not an array of findings');
  if (doc.length && !doc.some((f) => isObject(f) && 'status_code' in f)) throw new ReportError('not a Prowler OCSF report: no finding has a status_code');
  const { findings, add } = findingsCollector();
  let passed = 0;
  let manual = 0;
  for (const f of doc) {
    if (!isObject(f)) continue;
    if (f.status_code === 'PASS') passed++;
    else if (f.status_code === 'MANUAL') manual++;
    else if (f.status_code === 'FAIL') {
      const check = isObject(f.metadata) ? str(f.metadata.event_code) : '';
      const uid = isObject(f.finding_info) ? str(f.finding_info.uid) : '';
      const where = arrayOf(f.resources).map((r) => (isObject(r) ? `${str(r.uid)}@${str(r.region) || str(r.namespace)}` : ''));
      add(severityOf(f.severity), `${check}|${uid}|${where.join(',')}`);
    }
  }
  return { ...EMPTY, findings, passed, manual };
}

const PARSERS: Record<ReportFormat, (text: string) => ParsedReport> = { trivy, grype, sarif, cyclonedx, spdx, lynis, ocsf };

export function parseReport(format: ReportFormat, text: string): ParsedReport {
  return PARSERS[format](text);
}
