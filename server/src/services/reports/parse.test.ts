/**
 * The report readers on files shaped as each format's published schema says: empty, typical and
 * large (100,000 findings or components), plus files that are not what they claim to be.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReportFormat } from '../../../../shared/src/schemas/summary';
import { parseReport, ReportError } from './parse';
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
    expect(parseReport('lynis', LYNIS)).toMatchObject({ hardeningIndex: 55, warnings: new Set(['PKGS-7392', 'LOGG-2138']), suggestions: 2 });
    expect(parseReport('lynis', 'lynis_version=3.0.8\n')).toMatchObject({ hardeningIndex: null, suggestions: 0 });
  });

  it('reads 100,000 findings or components in each format', () => {
    const total = (format: ReportFormat, text: string) => [...(parseReport(format, text).findings ?? new Map<string, Set<string>>()).values()].reduce((n, k) => n + k.size, 0);
    expect(total('trivy', trivyReport(100_000))).toBe(100_002);
    expect(total('grype', grypeReport(100_000))).toBe(100_000);
    expect(total('sarif', sarifReport(100_000))).toBe(100_000);
    expect(parseReport('cyclonedx', cyclonedxReport(100_000)).components).toBe(100_001);
    expect(parseReport('spdx', spdxReport(100_000)).components).toBe(100_000);
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
    ];
    for (const [format, text, message] of cases) {
      expect(() => parseReport(format, text), format).toThrow(ReportError);
      expect(() => parseReport(format, text), format).toThrow(message);
    }
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
});
