/**
 * The shipped catalog with the real scanners, run through the server in the sandbox: Trivy, Syft,
 * Grype and Prowler (`npm run tools -- install`, which .ci/run does), Lynis (Debian's package) and
 * @cyclonedx/cyclonedx-npm (a dev dependency). Each summary is compared with counts taken from the
 * report by a plain count here, and where the tool prints its own totals, with those. The catalog is
 * the shipped file with its path roots pointed at a temporary directory; entries that can work
 * offline run with the network off. Nothing here reaches the internet: where a scanner needs its
 * vulnerability database, the run must fail at once and say why.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Run } from '../../shared/src/schemas/run';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, rawLog, runToEnd as runToEndOn, ROOT, startServer, tempDir, writeCatalog, type TestServer } from './harness';

interface Entry {
  name: string;
  network?: boolean;
  params?: Record<string, { roots?: string[] }>;
}

let server: TestServer;
let root: string;

beforeAll(async () => {
  root = tempDir('oss-runner-scan-root-');
  chmodSync(root, 0o755); // tools run as RUN_AS_USER: what they scan must be readable to them, as /srv is
  const shipped = parse(readFileSync(path.join(ROOT, 'server/catalog/default.yaml'), 'utf8')) as { tools: Entry[] };
  for (const entry of shipped.tools) for (const spec of Object.values(entry.params ?? {})) if (spec.roots) spec.roots = spec.roots.map((r) => (r === '/srv' ? root : path.join(root, path.basename(r))));
  // trivy-fs keeps the network for its vulnerability database; without that scanner it needs none.
  const trivyFs = shipped.tools.find((e) => e.name === 'trivy-fs');
  shipped.tools.push({ ...trivyFs, name: 'trivy-fs-offline', network: false });
  const catalog = writeCatalog(tempDir(), stringify(shipped));
  // The npm SBOM tool is a dev dependency of this project: its bin directory goes on the tools' PATH.
  const PATH = `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}`;
  server = await startServer({ catalogFile: catalog, env: { PATH, START_RATE_PER_MINUTE: '1000' } });
});
afterAll(() => server.stop());

const runToEnd = async (name: string, params?: Record<string, unknown>): Promise<Run> => (await runToEndOn(server.url, name, params)).run;

describe('the shipped catalog', () => {
  it('lists every scanner; those not installed say how to install them', async () => {
    const { body } = await api<ToolList>(server.url, 'GET', '/opensource-list');
    const names = body.items.map((t) => t.name);
    for (const name of ['hello', 'trivy-fs', 'trivy-image', 'trivy-config', 'trivy-sbom', 'syft-dir', 'syft-image', 'grype-sbom', 'grype-dir', 'grype-db-import', 'grype-db-status', 'prowler-list-checks', 'prowler-scan', 'prowler-kubernetes', 'prowler-iac', 'lynis-audit', 'lynis-audit-group', 'npm-sbom']) expect(names).toContain(name);
    // Every scanner is installed here (.ci/run: `npm run tools -- install`), so every entry can run.
    for (const tool of body.items) expect(tool.available, `${tool.name}: ${tool.unavailable_reason}`).toBe(true);
    expect(body.items.find((t) => t.name === 'lynis-audit-group')).toMatchObject({ artifacts: ['lynis-report.dat', 'lynis.log'] });
  });

  it('runs a Lynis audit in the sandbox and summarises its report', async () => {
    const first = await runToEnd('lynis-audit-group', { group: 'authentication' });
    expect(first).toMatchObject({ status: 'succeeded', outcome: 'success' });
    expect(first.artifacts.map((a) => a.name)).toEqual(['lynis-report.dat', 'lynis.log']);
    const report = readFileSync(path.join(server.logDir, 'artifacts', first.run_id, 'lynis-report.dat'), 'utf8');
    const index = Number(/^hardening_index=(\d+)$/m.exec(report)?.[1]);
    expect(first.summary).toMatchObject({
      reports: [{ artifact: 'lynis-report.dat', format: 'lynis' }],
      hardening_index: index,
      warnings: (report.match(/^warning\[\]=/gm) ?? []).length,
      suggestions: (report.match(/^suggestion\[\]=/gm) ?? []).length,
      new_since_previous: null,
      notes: [],
    });
    expect(first.summary?.suggestions).toBeGreaterThan(0);
    // One run only: Lynis first examines every program on the PATH (about 2,900 here), 50 s alone on this
    // machine and several minutes beside the rest of the suite. Comparing with a previous run is shown
    // with a Trivy report in the web app's tests.
  }, 300_000);

  it('makes the SBOM of an npm project and counts its components and licences', async () => {
    const project = path.join(root, 'app');
    mkdirSync(project, { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(path.join(ROOT, file), path.join(project, file));
    const run = await runToEnd('npm-sbom', { manifest: 'app/package.json' });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded' });
    const bom = JSON.parse(readFileSync(path.join(server.logDir, 'artifacts', run.run_id, 'sbom.cdx.json'), 'utf8')) as { bomFormat: string; components: unknown[] };
    expect(bom.bomFormat).toBe('CycloneDX');
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    expect(run.summary?.components).toBeGreaterThan(Object.keys(lock.packages).length / 2);
    expect(run.summary?.licenses?.[0]).toMatchObject({ name: 'MIT' });
    expect(run.summary?.notes).toEqual([]);
  });
});

/** A project with something for each scanner to find: a secret, a misconfigured Dockerfile and Pod, locked npm packages and two loose licence files. */
function plantProject(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'k8s'), { recursive: true });
  mkdirSync(path.join(dir, 'vendor/lib'), { recursive: true });
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM alpine:latest\nRUN apk add curl\nADD app.tar.gz /app\n');
  writeFileSync(path.join(dir, 'k8s/pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: nginx\n      securityContext:\n        privileged: true\n');
  // A GitHub token's shape (ghp_ and 36 characters), made up here.
  writeFileSync(path.join(dir, 'deploy.env'), `GITHUB_TOKEN=ghp_${'x7Kq2'.repeat(7)}Z\n`);
  const lock = {
    name: 'app',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'app', version: '1.0.0', dependencies: { ms: '2.1.3', 'gpl-thing': '1.0.0' } },
      'node_modules/ms': { version: '2.1.3', resolved: 'https://registry.npmjs.org/ms/-/ms-2.1.3.tgz', license: 'MIT' },
      'node_modules/gpl-thing': { version: '1.0.0', resolved: 'https://registry.npmjs.org/gpl-thing/-/gpl-thing-1.0.0.tgz', license: 'GPL-3.0-only' },
    },
  };
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: lock.packages[''].dependencies }));
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock));
  for (const file of ['vendor/lib/LICENSE', 'vendor/LICENSE.txt']) writeFileSync(path.join(dir, file), MIT);
  return dir;
}

const MIT = `MIT License

Copyright (c) 2026 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

/** The fields of the tools' reports that these tests count (Trivy JSON, SARIF, SPDX, OCSF). */
interface TrivyFinding {
  Severity: string;
  Status?: string;
  RuleID?: string;
  PkgName?: string;
  FilePath?: string;
  Name?: string;
}
interface TrivyReport {
  Results?: { Target: string; Secrets?: TrivyFinding[]; Misconfigurations?: TrivyFinding[]; Licenses?: TrivyFinding[] }[];
}
interface Sarif {
  version: string;
  runs: { results: unknown[] }[];
}
interface Spdx {
  packages: { SPDXID: string }[];
  relationships: { relationshipType: string; relatedSpdxElement: string }[];
}
type Ocsf = { status_code: string; severity: string; finding_info: unknown }[];
const artifact = <T>(run: Run, name: string): T => JSON.parse(readFileSync(path.join(server.logDir, 'artifacts', run.run_id, name), 'utf8')) as T;
const logOf = async (run: Run): Promise<string> => (await rawLog(server.url, run.run_id)).toString('utf8');

/** Findings by severity as a plain tally of words, for comparing with a summary's counts. */
function tally(words: string[]): Record<string, number> {
  const counts: Record<string, number> = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0, total: words.length };
  for (const word of words) counts[word.toLowerCase()]! += 1;
  return counts;
}

describe('Trivy', () => {
  it('fs, offline: the planted secret, the misconfigured Dockerfile and Pod, and every licence (loose files too), each counted', async () => {
    plantProject('trivy-app');
    const run = await runToEnd('trivy-fs-offline', { path: 'trivy-app', scanners: ['secret', 'misconfig', 'license'], severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], license_full: true });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded', outcome: 'findings', exit_code: 5 });
    const results = artifact<TrivyReport>(run, 'report.json').Results ?? [];
    const secrets = results.flatMap((r) => r.Secrets ?? []);
    const misconfigs = results.flatMap((r) => (r.Misconfigurations ?? []).filter((m) => m.Status === 'FAIL'));
    const licenses = results.flatMap((r) => r.Licenses ?? []);
    expect(secrets.map((x) => x.RuleID)).toEqual(['github-pat']);
    expect(results.filter((r) => r.Misconfigurations?.some((m) => m.Status === 'FAIL')).map((r) => r.Target).sort()).toEqual(['Dockerfile', 'k8s/pod.yaml']);
    // Two packages from the lock, and the same MIT text in two loose files: four licence findings.
    expect(licenses.map((l) => `${l.PkgName || l.FilePath}:${l.Name}`).sort()).toEqual(['gpl-thing:GPL-3.0-only', 'ms:MIT', 'vendor/LICENSE.txt:MIT', 'vendor/lib/LICENSE:MIT']);
    expect(run.summary?.findings).toEqual(tally([...secrets, ...misconfigs, ...licenses].map((f) => f.Severity)));
    expect(run.summary?.notes).toEqual([]);
  }, 120_000);

  it('config, offline, with the checks built into Trivy: SARIF whose results the summary counts, the same failures as trivy fs finds', async () => {
    const dir = plantProject('trivy-config-app');
    const run = await runToEnd('trivy-config', { path: path.basename(dir) });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded', outcome: 'findings' });
    const sarif = artifact<Sarif>(run, 'report.sarif');
    expect(sarif.version).toBe('2.1.0');
    const results = sarif.runs[0]?.results ?? [];
    expect(results.length).toBeGreaterThan(5);
    expect(run.summary?.findings?.total).toBe(results.length);
    const fs = await runToEnd('trivy-fs-offline', { path: path.basename(dir), scanners: ['misconfig'], severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] });
    expect(fs.summary?.findings).toEqual(run.summary?.findings);
  }, 120_000);

  it('fs with the vulnerability scanner and no database to be had: fails within seconds, saying why', async () => {
    plantProject('trivy-vuln-app');
    const started = Date.now();
    const run = await runToEnd('trivy-fs', { path: 'trivy-vuln-app' });
    expect(run).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(await logOf(run)).toMatch(/failed to download vulnerability DB/);
    expect(await logOf(run)).toMatch(/artifact report\.json: the tool did not write it/);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);
});

describe('Syft', () => {
  it('syft-dir, offline: CycloneDX and SPDX of a directory with a package lock, each locked package counted once', async () => {
    const dir = plantProject('syft-app');
    const run = await runToEnd('syft-dir', { path: path.basename(dir) });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded', outcome: 'success' });
    expect(run.artifacts.map((a) => a.name)).toEqual(['sbom.cdx.json', 'sbom.spdx.json']);
    const locked = Object.keys((JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: object }).packages).length;
    expect(run.summary?.components).toBe(locked);
    // The SPDX document names the same packages, besides the directory it DESCRIBES.
    const spdx = artifact<Spdx>(run, 'sbom.spdx.json');
    const described = new Set(spdx.relationships.filter((r) => r.relationshipType === 'DESCRIBES').map((r) => r.relatedSpdxElement));
    expect(spdx.packages.filter((p) => !described.has(p.SPDXID))).toHaveLength(locked);
    expect(run.summary?.licenses).toEqual(expect.arrayContaining([{ name: 'MIT', count: 1 }, { name: 'GPL-3.0-only', count: 1 }]));
  }, 120_000);
});

describe('Grype', () => {
  it('on the SBOM Syft wrote, with no database to be had: fails at once, saying why; db-status says there is none', async () => {
    const syft = await runToEnd('syft-dir', { path: path.basename(plantProject('grype-app')) });
    const sbom = path.join(root, 'grype-app.cdx.json');
    copyFileSync(path.join(server.logDir, 'artifacts', syft.run_id, 'sbom.cdx.json'), sbom);
    chmodSync(sbom, 0o644);
    const started = Date.now();
    const run = await runToEnd('grype-sbom', { sbom: path.basename(sbom) });
    expect(run).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(await logOf(run)).toMatch(/failed to load vulnerability db: database does not exist/);
    expect(Date.now() - started).toBeLessThan(60_000);
    const status = await runToEnd('grype-db-status');
    expect(status.status).toBe('failed');
    expect(await logOf(status)).toMatch(/Status:\s+invalid|database does not exist/);
  }, 120_000);

  it('grype-db-import refuses a file that is not a database, saying so', async () => {
    const fake = path.join(root, 'not-a-db.tar.zst');
    writeFileSync(fake, 'not a database');
    chmodSync(fake, 0o644);
    const run = await runToEnd('grype-db-import', { file: path.basename(fake) });
    expect(run.status).toBe('failed');
    expect(await logOf(run)).toMatch(/ERROR/);
  }, 60_000);
});

describe('Prowler', () => {
  it('lists the AWS checks, offline', async () => {
    const run = await runToEnd('prowler-list-checks', { provider: 'aws' });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded' });
    const log = await logOf(run);
    const listed = Number(/There are (\d+) available checks/.exec(log)?.[1]);
    expect(listed).toBeGreaterThan(300);
    expect(log).toMatch(/iam_root_mfa_enabled/);
  }, 120_000);

  it('iac, offline through Trivy: the OCSF report summarised, failed by severity, passed and manual, as Prowler itself counts them', async () => {
    plantProject('prowler-app');
    const run = await runToEnd('prowler-iac', { path: 'prowler-app' });
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'succeeded', outcome: 'findings', exit_code: 3 });
    const findings = artifact<Ocsf>(run, 'prowler.ocsf.json');
    const failed = findings.filter((f) => f.status_code === 'FAIL');
    expect(run.summary?.findings).toEqual(tally(failed.map((f) => (f.severity === 'Informational' ? 'low' : f.severity))));
    expect(run.summary?.passed).toBe(findings.filter((f) => f.status_code === 'PASS').length);
    expect(run.summary?.manual).toBe(findings.filter((f) => f.status_code === 'MANUAL').length);
    // Prowler's own overview in the log: "18.25% (23) Failed │ 81.75% (103) Passed".
    const log = await logOf(run);
    expect(Number(/\((\d+)\) Failed/.exec(log)?.[1])).toBe(failed.length);
    expect(Number(/\((\d+)\) Passed/.exec(log)?.[1])).toBe(run.summary?.passed);
    expect(failed.some((f) => /secret/i.test(JSON.stringify(f.finding_info)))).toBe(true);
  }, 180_000);

  it('kubernetes reads the kubeconfig its entry names, not ~/.kube/config', async () => {
    mkdirSync(path.join(root, 'kube'), { recursive: true });
    // A cluster that cannot be there: port 9 on this machine (discard, closed).
    writeFileSync(
      path.join(root, 'kube/config'),
      ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: probe', '  cluster:', '    server: https://127.0.0.1:9', 'contexts:', '- name: probe', '  context:', '    cluster: probe', '    user: probe', 'current-context: probe', 'users:', '- name: probe', '  user:', '    token: not-a-token', ''].join('\n'),
    );
    chmodSync(path.join(root, 'kube'), 0o755);
    chmodSync(path.join(root, 'kube/config'), 0o644);
    const run = await runToEnd('prowler-kubernetes');
    expect(run.status).toBe('failed');
    expect(await logOf(run)).toMatch(/host='127\.0\.0\.1', port=9\)/);
  }, 180_000);
});
