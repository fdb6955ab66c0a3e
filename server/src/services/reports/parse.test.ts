/**
 * The report readers on reports the tools themselves published (fixtures/, see SOURCES.md), with
 * the expected figures tallied straight from each file's own fields; and on files shaped as each
 * format's published schema says: empty, typical and large (100,000 findings or components), plus
 * files that are not what they claim to be.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ReportFormat } from '../../../../shared/src/schemas/summary';
import { parseReport, ReportError, type ParsedReport } from './parse';
import { summarize } from './summary';

const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;

/** Trivy JSON (SchemaVersion 2): n vulnerabilities cycling through the severities, one misconfiguration and one secret. */
function trivyReport(n: number): string {
  const vulns = Array.from({ length: n }, (_, i) => ({ VulnerabilityID: `CVE-2024-${i}`, PkgName: `pkg${i % 100}`, InstalledVersion: '1.0.0', FixedVersion: '1.0.1', Severity: SEVERITIES[i % 5], Title: 'a flaw' }));
  return JSON.stringify({
    SchemaVersion: 2,
    ArtifactName: '.',
    ArtifactType: 'filesystem',
    Results: [
      { Target: 'package-lock.json', Class: 'lang-pkgs', Type: 'npm', Vulnerabilities: vulns },
      { Target: 'Dockerfile', Class: 'config', Type: 'dockerfile', Misconfigurations: [{ ID: 'DS002', Severity: 'HIGH', Status: 'FAIL', Message: 'root user' }, { ID: 'DS001', Severity: 'LOW', Status: 'PASS' }] },
      { Target: 'app/.env', Class: 'secret', Secrets: [{ RuleID: 'aws-access-key-id', Severity: 'CRITICAL', StartLine: 3 }] },
    ],
  });
}

/** Grype JSON: n matches. */
function grypeReport(n: number): string {
  const words = ['Critical', 'High', 'Medium', 'Low', 'Negligible'];
  return JSON.stringify({
    matches: Array.from({ length: n }, (_, i) => ({ vulnerability: { id: `GHSA-${i}`, severity: words[i % 5], namespace: 'github:language:javascript' }, artifact: { name: `pkg${i}`, version: '2.0.0', type: 'npm' }, matchDetails: [] })),
    source: { type: 'directory', target: '.' },
    descriptor: { name: 'grype', version: '0.80.0' },
  });
}

/** SARIF 2.1.0: n results, severity from the rule's security-severity or the result's level. */
function sarifReport(n: number): string {
  return JSON.stringify({
    version: '2.1.0',
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    runs: [
      {
        tool: { driver: { name: 'Trivy', rules: [{ id: 'CVE-1', properties: { 'security-severity': '9.8' } }, { id: 'CVE-2', properties: { 'security-severity': '5.3' } }, { id: 'STYLE', defaultConfiguration: { level: 'note' } }] } },
        results: Array.from({ length: n }, (_, i) => ({
          ruleId: ['CVE-1', 'CVE-2', 'STYLE', 'OTHER'][i % 4],
          ...(i % 4 === 3 ? { level: 'error' } : {}),
          message: { text: `finding ${i}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: `src/file${i}.js` }, region: { startLine: i + 1 } } }],
        })),
      },
    ],
  });
}

function cyclonedxReport(n: number): string {
  const licenses = ['MIT', 'Apache-2.0', 'ISC'];
  return JSON.stringify({
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    version: 1,
    metadata: { component: { type: 'application', name: 'app' } },
    components: Array.from({ length: n }, (_, i) => ({
      type: 'library',
      name: `pkg${i}`,
      version: '1.0.0',
      licenses: i % 10 === 9 ? [{ expression: 'MIT OR Apache-2.0' }] : [{ license: { id: licenses[i % 3] } }],
      ...(i === 0 ? { components: [{ type: 'library', name: 'nested', licenses: [{ license: { name: 'Custom' } }] }] } : {}),
    })),
  });
}

function spdxReport(n: number): string {
  return JSON.stringify({
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'app',
    documentNamespace: 'https://example.com/app',
    creationInfo: { created: '2026-11-27T00:00:00Z', creators: ['Tool: syft'] },
    documentDescribes: ['SPDXRef-root'],
    packages: [
      { SPDXID: 'SPDXRef-root', name: 'app', licenseConcluded: 'NOASSERTION' },
      ...Array.from({ length: n }, (_, i) => ({ SPDXID: `SPDXRef-p${i}`, name: `pkg${i}`, licenseConcluded: i % 2 ? 'MIT' : 'NOASSERTION', licenseDeclared: i % 2 ? 'MIT' : 'BSD-3-Clause' })),
    ],
  });
}

/** Prowler OCSF JSON: n failed checks cycling through OCSF's severity words, then one passed and one manual. */
function ocsfReport(n: number): string {
  const words = ['Critical', 'High', 'Medium', 'Low', 'Informational'];
  const finding = (i: number, status: string, severity: string) => ({
    metadata: { event_code: `check_${i % 50}`, product: { name: 'Prowler', version: '5.4.0' } },
    severity,
    status_code: status,
    finding_info: { uid: `prowler-aws-check_${i % 50}-123456789012-eu-west-1-bucket${i}`, title: 'a check' },
    resources: [{ uid: `arn:aws:s3:::bucket${i}`, region: 'eu-west-1' }],
    class_uid: 2004,
  });
  return JSON.stringify([...Array.from({ length: n }, (_, i) => finding(i, 'FAIL', words[i % 5] ?? 'Low')), finding(n, 'PASS', 'High'), finding(n + 1, 'MANUAL', 'Medium')]);
}

const LYNIS = ['# Lynis Report', 'report_version_major=1', 'lynis_version=3.0.8', 'warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|', 'warning[]=LOGG-2138|klogd is not running|-|-|', 'suggestion[]=DEB-0280|Install libpam-tmpdir|-|-|', 'suggestion[]=BOOT-5264|Consider hardening system services|-|-|', 'hardening_index=55', ''].join('\n');

describe('report readers', () => {
  it('reads Trivy JSON: vulnerabilities, failed misconfigurations and secrets by severity', () => {
    const { findings } = parseReport('trivy', trivyReport(10));
    expect(Object.fromEntries([...(findings ?? [])].map(([s, k]) => [s, k.size]))).toEqual({ critical: 3, high: 3, medium: 2, low: 2, unknown: 2 });
    expect(parseReport('trivy', JSON.stringify({ SchemaVersion: 2, ArtifactName: '.' })).findings?.size).toBe(0);
  });

  it('reads Grype JSON, Negligible counted as low', () => {
    const findings = parseReport('grype', grypeReport(5)).findings;
    expect(Object.fromEntries([...(findings ?? [])].map(([s, k]) => [s, k.size]))).toEqual({ critical: 1, high: 1, medium: 1, low: 2 });
    expect(parseReport('grype', JSON.stringify({ matches: [] })).findings?.size).toBe(0);
  });

  it('reads SARIF from any tool: security-severity first, then the level', () => {
    const findings = parseReport('sarif', sarifReport(8)).findings;
    expect(Object.fromEntries([...(findings ?? [])].map(([s, k]) => [s, k.size]))).toEqual({ critical: 2, medium: 2, low: 2, high: 2 });
    expect(parseReport('sarif', JSON.stringify({ version: '2.1.0', runs: [] })).findings?.size).toBe(0);
    // A score of exactly 0 says no severity is known, whatever the level.
    const zero = { tool: { driver: { name: 'any', rules: [{ id: 'R', properties: { 'security-severity': '0.0' } }] } }, results: [{ ruleId: 'R', level: 'note', message: { text: 'm' } }] };
    expect(parseReport('sarif', JSON.stringify({ version: '2.1.0', runs: [zero] })).findings?.get('unknown')?.size).toBe(1);
  });

  it('reads CycloneDX and SPDX: components and licences', () => {
    const cdx = parseReport('cyclonedx', cyclonedxReport(10));
    expect(cdx.components).toBe(11);
    expect(Object.fromEntries(cdx.licenses ?? [])).toEqual({ MIT: 3, 'Apache-2.0': 3, ISC: 3, 'MIT OR Apache-2.0': 1, Custom: 1 });
    const doc = parseReport('spdx', spdxReport(4));
    expect(doc.components).toBe(4);
    expect(Object.fromEntries(doc.licenses ?? [])).toEqual({ 'BSD-3-Clause': 2, MIT: 2 });
    expect(parseReport('cyclonedx', JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5' })).components).toBe(0);
  });

  it('reads a Lynis report: hardening index, warnings, suggestions', () => {
    expect(parseReport('lynis', LYNIS)).toMatchObject({ hardeningIndex: 55, warnings: ['PKGS-7392|Found one or more vulnerable packages.|-|-|', 'LOGG-2138|klogd is not running|-|-|'], suggestions: 2 });
    expect(parseReport('lynis', 'lynis_version=3.0.8\n')).toMatchObject({ hardeningIndex: null, suggestions: 0 });
  });

  it('reads 100,000 findings or components in each format', () => {
    const total = (format: ReportFormat, text: string) => [...(parseReport(format, text).findings ?? new Map<string, Set<string>>()).values()].reduce((n, k) => n + k.size, 0);
    expect(total('trivy', trivyReport(100_000))).toBe(100_002);
    expect(total('grype', grypeReport(100_000))).toBe(100_000);
    expect(total('sarif', sarifReport(100_000))).toBe(100_000);
    expect(parseReport('cyclonedx', cyclonedxReport(100_000)).components).toBe(100_001);
    expect(parseReport('spdx', spdxReport(100_000)).components).toBe(100_000);
    expect(total('ocsf', ocsfReport(100_000))).toBe(100_000);
  });

  it('reads Prowler OCSF: failed checks by severity, passed and manual ones counted', () => {
    const report = parseReport('ocsf', ocsfReport(10));
    expect(Object.fromEntries([...(report.findings ?? [])].map(([s, k]) => [s, k.size]))).toEqual({ critical: 2, high: 2, medium: 2, low: 4 });
    expect(report).toMatchObject({ passed: 1, manual: 1 });
    expect(parseReport('ocsf', '[]')).toMatchObject({ passed: 0, manual: 0 });
  });

  it('refuses what is not the declared format, saying why', () => {
    const cases: [ReportFormat, string, RegExp][] = [
      ['trivy', '{"truncated', /not valid JSON/],
      ['trivy', '[]', /not an object/],
      ['grype', '{"results": []}', /no matches array/],
      ['sarif', '{"version": "1.0", "runs": []}', /not a SARIF 2\.x log/],
      ['cyclonedx', spdxReport(1), /bomFormat is not "CycloneDX"/],
      ['spdx', cyclonedxReport(1), /spdxVersion is missing/],
      ['lynis', 'hello', /no lynis_version line/],
      ['ocsf', trivyReport(1), /not an array of findings/],
      ['ocsf', '[{"matches": []}]', /no finding has a status_code/],
    ];
    for (const [format, text, message] of cases) {
      expect(() => parseReport(format, text), format).toThrow(ReportError);
      expect(() => parseReport(format, text), format).toThrow(message);
    }
  });
});

/** A report the tool published, from fixtures/ (SOURCES.md says where each comes from). */
const FIXTURES = fileURLToPath(new URL('fixtures/', import.meta.url));
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const read = <T,>(name: string): T => JSON.parse(fixture(name)) as T;

/** What a reader found, by severity: { high: 3, ... }. */
const bySeverity = (report: ParsedReport): Record<string, number> => Object.fromEntries([...(report.findings ?? [])].map(([s, k]) => [s, k.size]));
/** The expected side: the report's own words, tallied one by one, lower-cased as the summary's severities are. */
function tally(words: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const word of words) counts[word.toLowerCase()] = (counts[word.toLowerCase()] ?? 0) + 1;
  return counts;
}
/**
 * What Lynis adds to a report when two nameservers do not answer: test NETW-2704 warns once per
 * nameserver (include/tests_networking), each a line from ReportWarning (include/functions).
 */
const NAMESERVERS_SILENT = 'warning[]=NETW-2704|Nameserver 10.0.0.1 does not respond|-|-|\nwarning[]=NETW-2704|Nameserver 10.0.0.2 does not respond|-|-|\n';
const distinct = (rows: unknown[][]): number => new Set(rows.map((row) => JSON.stringify(row))).size;

interface TrivyFixture {
  Results: { Target: string; MisconfSummary?: { Failures: number }; Vulnerabilities?: { VulnerabilityID: string; PkgName: string; InstalledVersion: string; PkgPath?: string; Severity: string }[]; Secrets?: { Severity: string }[]; Licenses?: { Severity: string; PkgName: string; FilePath: string; Name: string }[]; Misconfigurations?: { Severity: string }[] }[];
}
interface GrypeFixture {
  matches: { vulnerability: { id: string; severity: string }; artifact: { name: string; version: string; locations: { path: string }[] } }[];
}
interface OcsfFixture {
  status_code: string;
  severity: string;
}

describe('report readers on the tools’ own reports', () => {
  it('Trivy JSON: each installed copy of a vulnerable package is a finding (PkgPath), and secrets', () => {
    // bkimminich/juice-shop:v12.10.2: Trivy lists ansi-regex 4.1.0 (CVE-2021-3807) at four paths, among others.
    const doc = read<TrivyFixture>('trivy-juice-shop.json');
    const vulns = doc.Results.flatMap((r) => (r.Vulnerabilities ?? []).map((v) => ({ ...v, Target: r.Target })));
    const secrets = doc.Results.flatMap((r) => r.Secrets ?? []);
    expect(distinct(vulns.map((v) => [v.Target, v.VulnerabilityID, v.PkgName, v.InstalledVersion]))).toBe(32); // by name and version alone
    expect(distinct(vulns.map((v) => [v.Target, v.VulnerabilityID, v.PkgPath]))).toBe(vulns.length); // no entry repeats another
    const findings = bySeverity(parseReport('trivy', fixture('trivy-juice-shop.json')));
    expect(findings).toEqual(tally([...vulns, ...secrets].map((f) => f.Severity)));
    expect(Object.values(findings).reduce((a, b) => a + b)).toBe(43); // 40 vulnerabilities, 3 secrets
  });

  it('Trivy JSON: licences, those of loose files by their path', () => {
    // alpine:3.11: 17 licences of packages, and OpenSSL in two loose files (PkgName "", FilePath apart).
    const licenses = read<TrivyFixture>('trivy-licenses.json').Results.flatMap((r) => r.Licenses ?? []);
    expect(licenses.filter((l) => !l.PkgName).map((l) => l.FilePath)).toEqual(['/etc/ssl/misc/CA.pl', '/etc/ssl/misc/tsget.pl']);
    expect(bySeverity(parseReport('trivy', fixture('trivy-licenses.json')))).toEqual(tally(licenses.map((l) => l.Severity)));
    expect(licenses.length).toBe(19);
  });

  it('Trivy JSON: failed misconfigurations, as many as Trivy’s own MisconfSummary says', () => {
    const doc = read<TrivyFixture>('trivy-helm-misconfig.json');
    const failures = doc.Results.reduce((n, r) => n + (r.MisconfSummary?.Failures ?? 0), 0);
    const findings = bySeverity(parseReport('trivy', fixture('trivy-helm-misconfig.json')));
    expect(findings).toEqual(tally(doc.Results.flatMap((r) => r.Misconfigurations ?? []).map((m) => m.Severity)));
    expect(Object.values(findings).reduce((a, b) => a + b)).toBe(failures);
    expect(failures).toBe(18);
  });

  it('Grype JSON: the same vulnerability in one package at two paths is two findings', () => {
    // sonarqube:lts: guava 30.1.1-jre inside two plugins' jars, snakeyaml 1.33 in a jar and on its own...
    const matches = read<GrypeFixture>('grype-sonarqube.json').matches;
    expect(distinct(matches.map((m) => [m.vulnerability.id, m.artifact.name, m.artifact.version]))).toBe(matches.length - 5);
    expect(distinct(matches.map((m) => [m.vulnerability.id, m.artifact.name, m.artifact.version, m.artifact.locations.map((l) => l.path)]))).toBe(matches.length);
    expect(bySeverity(parseReport('grype', fixture('grype-sonarqube.json')))).toEqual(tally(matches.map((m) => m.vulnerability.severity)));
    expect(matches.length).toBe(33);
  });

  it('Grype JSON: Negligible is low; a match Grype repeats word for word counts once', () => {
    // Grype 0.28 wrote GHSA-v6rh-hp5x-86rv for Django 3.2.9 twice, identical: 6 matches, 5 findings.
    const matches = read<GrypeFixture>('grype-check-all-fields.json').matches;
    expect(matches.length).toBe(6);
    expect(JSON.stringify(matches[4])).toBe(JSON.stringify(matches[5]));
    expect(bySeverity(parseReport('grype', fixture('grype-check-all-fields.json')))).toEqual({ critical: 2, high: 2, low: 1 });
  });

  it('SARIF from Trivy: its UNKNOWN (level note, security-severity "0.0") stays unknown', () => {
    // knqyf263/vuln-image:1.2.3 by Trivy 0.29.2: Trivy's severity word is also in each result's message.
    const doc = read<{ runs: { results: { message: { text: string } }[] }[] }>('trivy-image.sarif');
    const words = doc.runs.flatMap((r) => r.results).map((r) => /Severity: ([A-Z]+)/.exec(r.message.text)?.[1] ?? 'missing');
    expect(bySeverity(parseReport('sarif', fixture('trivy-image.sarif')))).toEqual(tally(words));
    expect(tally(words)).toEqual({ critical: 23, high: 28, medium: 26, low: 1, unknown: 2 });
  });

  it('SARIF from another tool: level note without a score stays low', () => {
    // Dockle 0.3.15: one result at level error, three at note, no security-severity anywhere.
    expect(bySeverity(parseReport('sarif', fixture('dockle.sarif')))).toEqual({ high: 1, low: 3 });
  });

  it('CycloneDX: packages, not the operating system nor what the BOM describes; nested ones too', () => {
    // Syft's snapshot of an image: package-1 (MIT), package-2, and debian as type operating-system.
    expect(parseReport('cyclonedx', fixture('syft-image.cdx.json'))).toMatchObject({ components: 2, licenses: new Map([['MIT', 1]]) });
    // Trivy's image BOM: debian (operating-system) and three packages.
    const trivy = read<{ components: { type: string }[] }>('trivy-image.cdx.json');
    expect(parseReport('cyclonedx', fixture('trivy-image.cdx.json')).components).toBe(trivy.components.filter((c) => c.type === 'library').length);
    expect(trivy.components.length).toBe(4);
    // cyclonedx-npm nests bundled dependencies; it writes one dependencies entry per component and one for the root.
    const npm = read<{ dependencies: unknown[] }>('cyclonedx-npm-bundled.cdx.json');
    expect(parseReport('cyclonedx', fixture('cyclonedx-npm-bundled.cdx.json')).components).toBe(npm.dependencies.length - 1);
  });

  it('SPDX: packages, not the image or directory the document DESCRIBES', () => {
    // Syft: package-1 (declared MIT), package-2 and the image (or directory) it describes.
    expect(parseReport('spdx', fixture('syft-image.spdx.json'))).toMatchObject({ components: 2, licenses: new Map([['MIT', 1]]) });
    expect(parseReport('spdx', fixture('syft-dir.spdx.json'))).toMatchObject({ components: 2, licenses: new Map([['MIT', 1]]) });
    // Trivy: the scanned directory (DESCRIBES), Manifest.toml and three Julia packages, no licence known.
    expect(parseReport('spdx', fixture('trivy-fs.spdx.json'))).toMatchObject({ components: 4, licenses: new Map() });
  });

  it('Lynis: one warning per warning[]= line, as Lynis counts them', () => {
    const text = fixture('lynis-report.dat');
    const count = (key: string) => text.split('\n').filter((line) => line.startsWith(`${key}[]=`)).length;
    expect(parseReport('lynis', text)).toMatchObject({ hardeningIndex: 57, suggestions: count('suggestion'), warnings: ['LOGG-2138|klogd is not running, which could lead to missing kernel messages in log files|-|-|'] });
    expect(count('suggestion')).toBe(37);
    // Lynis says "Warnings (3)" with two nameservers silent, and so must the summary.
    expect(parseReport('lynis', text + NAMESERVERS_SILENT).warnings).toHaveLength(3);
  });

  it('Prowler OCSF: failed checks by severity, passed and manual ones', () => {
    for (const name of ['prowler-aws.ocsf.json', 'prowler-gcp.ocsf.json', 'prowler-azure-4.5.ocsf.json']) {
      const checks = read<OcsfFixture[]>(name);
      const status = tally(checks.map((c) => c.status_code));
      expect(parseReport('ocsf', fixture(name)), name).toMatchObject({ passed: status.pass ?? 0, manual: status.manual ?? 0 });
      expect(bySeverity(parseReport('ocsf', fixture(name))), name).toEqual(tally(checks.filter((c) => c.status_code === 'FAIL').map((c) => c.severity)));
    }
    // Prowler 5.4's published example for GCP: 2 failed (Critical, Medium), 3 passed; Prowler 4.5 on Azure: 2 failed (High), 1 passed, 1 manual.
    expect(parseReport('ocsf', fixture('prowler-gcp.ocsf.json'))).toMatchObject({ passed: 3, manual: 0 });
    expect(bySeverity(parseReport('ocsf', fixture('prowler-gcp.ocsf.json')))).toEqual({ critical: 1, medium: 1 });
    expect(parseReport('ocsf', fixture('prowler-azure-4.5.ocsf.json'))).toMatchObject({ passed: 1, manual: 1 });
    expect(bySeverity(parseReport('ocsf', fixture('prowler-azure-4.5.ocsf.json')))).toEqual({ high: 2 });
  });
});

describe('summaries', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'oss-runner-reports-'));
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };

  it('merges reports, counts what is new since the previous run, and notes what it could not read', async () => {
    const before = file('before.json', trivyReport(10));
    const after = file('after.json', trivyReport(15)); // five more: CVE-2024-10..14
    const summary = await summarize(
      [
        { artifact: 'report.json', format: 'trivy', file: after },
        { artifact: 'sbom.json', format: 'cyclonedx', file: file('sbom.json', cyclonedxReport(3)) },
        { artifact: 'broken.sarif', format: 'sarif', file: file('broken.sarif', '{"version":') },
      ],
      { runId: 'run-1', reports: [{ artifact: 'report.json', format: 'trivy', file: before }] },
    );
    expect(summary).toMatchObject({
      findings: { critical: 4, high: 4, medium: 3, low: 3, unknown: 3, total: 17 },
      components: 4, // three and one nested
      licenses: [
        { name: 'Apache-2.0', count: 1 },
        { name: 'Custom', count: 1 },
        { name: 'ISC', count: 1 },
        { name: 'MIT', count: 1 },
      ],
      new_since_previous: { run_id: 'run-1', findings: { critical: 1, high: 1, medium: 1, low: 1, unknown: 1, total: 5 } },
      hardening_index: null,
    });
    expect(summary?.notes).toEqual([expect.stringMatching(/^broken\.sarif \(sarif\): not valid JSON/)]);
  });

  it('says when the previous run’s report is gone, and still summarises this one', async () => {
    const summary = await summarize([{ artifact: 'lynis-report.dat', format: 'lynis', file: file('lynis.dat', LYNIS) }], {
      runId: 'run-0',
      reports: [{ artifact: 'lynis-report.dat', format: 'lynis', file: path.join(dir, 'deleted.dat') }],
    });
    expect(summary).toMatchObject({ hardening_index: 55, warnings: 2, suggestions: 2, new_since_previous: { run_id: 'run-0', warnings: 2 } });
    expect(summary?.notes).toEqual(['previous run run-0: lynis-report.dat (lynis): the file is gone']);
  });

  it('counts Lynis warnings line by line, and those new since the previous run', async () => {
    const summary = await summarize([{ artifact: 'lynis-report.dat', format: 'lynis', file: file('silent.dat', fixture('lynis-report.dat') + NAMESERVERS_SILENT) }], {
      runId: 'run-2',
      reports: [{ artifact: 'lynis-report.dat', format: 'lynis', file: path.join(FIXTURES, 'lynis-report.dat') }],
    });
    expect(summary).toMatchObject({ hardening_index: 57, warnings: 3, suggestions: 37, new_since_previous: { run_id: 'run-2', warnings: 2 } });
  });

  it('counts Prowler’s passed and manual checks beside its failed ones', async () => {
    const prowler = (name: string) => ({ artifact: 'prowler.ocsf.json', format: 'ocsf' as const, file: path.join(FIXTURES, name) });
    const summary = await summarize([prowler('prowler-azure-4.5.ocsf.json'), prowler('prowler-aws.ocsf.json')], { runId: 'run-3', reports: [prowler('prowler-aws.ocsf.json')] });
    expect(summary).toMatchObject({
      findings: { critical: 0, high: 2, medium: 1, low: 1, unknown: 0, total: 4 },
      passed: 1,
      manual: 4,
      new_since_previous: { run_id: 'run-3', findings: { high: 2, total: 2 }, warnings: null },
      components: null,
      hardening_index: null,
      notes: [],
    });
  });
});
