/**
 * The shipped catalog with real scanners: Lynis (Debian's package) and @cyclonedx/cyclonedx-npm run
 * for real through the server, sandboxed, with their reports summarised on the run. The catalog is
 * the shipped file with its path roots pointed at a temporary directory.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/src/schemas/run';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, runToEnd as runToEndOn, ROOT, startServer, tempDir, writeCatalog, type TestServer } from './harness';

let server: TestServer;
let root: string;

beforeAll(async () => {
  root = tempDir('oss-runner-scan-root-');
  chmodSync(root, 0o755); // tools run as RUN_AS_USER: what they scan must be readable to them, as /srv is
  const shipped = readFileSync(path.join(ROOT, 'server/catalog/default.yaml'), 'utf8');
  const catalog = writeCatalog(tempDir(), shipped.replaceAll('roots: ["/srv"]', `roots: ["${root}"]`));
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
    for (const name of ['hello', 'trivy-fs', 'trivy-image', 'trivy-config', 'trivy-sbom', 'syft-dir', 'syft-image', 'grype-sbom', 'grype-dir', 'prowler-list-checks', 'prowler-scan', 'lynis-audit', 'lynis-audit-group', 'npm-sbom']) expect(names).toContain(name);
    for (const tool of body.items) if (!tool.available) expect(tool.unavailable_reason, tool.name).toMatch(/is not installed .*; install /);
    expect(body.items.find((t) => t.name === 'lynis-audit-group')).toMatchObject({ available: true, artifacts: ['lynis-report.dat', 'lynis.log'] });
    expect(body.items.find((t) => t.name === 'npm-sbom')?.available).toBe(true);
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
