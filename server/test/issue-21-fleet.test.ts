/**
 * Issue 21 on a real fleet (an API node and two workers, on PostgreSQL and Redis, each its own process):
 *   - item 4: the catalog an API node lists is the workers' (a program only one worker has, one only the
 *     API node has, a limit one worker cannot enforce, a tag no worker serves), and a start that no live
 *     worker can run is refused, saying why, instead of queued to fail;
 *   - item 3: a worker deletes its files of runs whose records retention deleted, and holds each run to
 *     its disk limit;
 *   - item 6: a second worker on a worker's LOG_DIR is refused (an API node may share it).
 * The workers differ as machines do: their own TOOLS_DIR (first on the tools' PATH), and one without
 * bubblewrap (PROCESS_ISOLATION=process-group), which cannot keep a tool off the network.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../shared/src/schemas/fleet';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import type { Tool, ToolList } from '../../shared/src/schemas/tool';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, processesWith, runToEnd, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

const CATALOG = `
tools:
  - name: report
    cmd: ["bash", "-c", "echo kept > $1/out.txt; echo scratch > scratch.txt; echo done", "report", "{{artifacts}}"]
    artifacts: [out.txt]
  - name: only-a
    cmd: ["only-on-a"]
  - name: only-api
    cmd: ["only-on-api"]
    install_hint: install it on the workers
  - name: offline
    cmd: ["echo", "offline"]
    network: false
  - name: edge-echo
    tag: edge
    cmd: ["echo", "on the edge"]
  - name: filler
    cmd: ["bash", "-c", "head -c 3000000 /dev/zero > big; echo wrote; sleep 600 # issue21-filler"]
    limits: { disk_bytes: 1MiB }
`;

/**
 * A TOOLS_DIR outside /tmp (the sandbox gives tools a private /tmp), open to the tools' user. With
 * `program`, it holds it as `npm run tools -- install` would: bin/<name> linked to <name>-<version>/.
 */
function toolsDir(program?: { name: string; version: string }): string {
  const dir = mkdtempSync('/var/tmp/oss-runner-issue21-');
  mkdirSync(path.join(dir, 'bin'));
  if (program) {
    const versioned = path.join(dir, `${program.name}-${program.version}`);
    mkdirSync(versioned);
    writeFileSync(path.join(versioned, program.name), `#!/bin/sh\necho "${program.name} ${program.version} ran"\n`);
    chmodSync(path.join(versioned, program.name), 0o755);
    chmodSync(versioned, 0o755);
    symlinkSync(path.join('..', `${program.name}-${program.version}`, program.name), path.join(dir, 'bin', program.name));
  }
  chmodSync(path.join(dir, 'bin'), 0o755);
  chmodSync(dir, 0o755);
  return dir;
}

let base: FleetBase<null>;
let apiNode: TestServer;
let workerA: TestServer;
let workerB: TestServer;
const toolsA = toolsDir({ name: 'only-on-a', version: '1.2.3' });
const toolsB = toolsDir();
const toolsApi = toolsDir({ name: 'only-on-api', version: '9.9.9' });
const catalogFile = writeCatalog(tempDir(), CATALOG);

beforeAll(async () => {
  base = await fleetBase(
    {
      MAX_CONCURRENT_RUNS: '2',
      // Retention as the API nodes and workers share it: only the newest run of each tool is kept.
      RETENTION_KEEP_PER_TOOL: '1',
      RETENTION_INTERVAL_S: '0.5',
      WORKER_TOOLS_CHECK_S: '0.5',
    },
    { redis: 'machine' },
  );
  // The API node first (it migrates the schema); then the workers.
  apiNode = await startServer({ catalogFile, env: { ...base.env, TOOLS_DIR: toolsApi } });
  [workerA, workerB] = await Promise.all([
    startServer({ catalogFile, env: { ...base.env, TOOLS_DIR: toolsA }, worker: true }),
    startServer({ catalogFile, env: { ...base.env, TOOLS_DIR: toolsB, PROCESS_ISOLATION: 'process-group' }, worker: true }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([apiNode, workerA, workerB].map((s) => s?.stop()));
  await base?.close();
  for (const dir of [toolsA, toolsB, toolsApi]) rmSync(dir, { recursive: true, force: true });
});

const catalog = async (): Promise<Record<string, Tool>> => {
  const { body } = await api<ToolList>(apiNode.url, 'GET', '/opensource-list', undefined, { authorization: '' });
  return Object.fromEntries(body.items.map((t) => [t.name, t]));
};

describe("issue 21: the catalog of a fleet's API node is its workers'", () => {
  it('lists where each tool can run and why not, per worker in /fleet', async () => {
    const tools = await catalog();
    expect(tools['only-a']).toMatchObject({
      available: true,
      unavailable_reason: null,
      fleet: { tag: 'default', workers: 2, able: 1, unknown: 0, versions: ['1.2.3'], unable: [{ reason: expect.stringMatching(/^program "only-on-a" is not installed on the tools' PATH$/) as unknown, workers: 1 }] },
    });
    // On the API node's own PATH only: not runnable anywhere it matters.
    expect(tools['only-api']).toMatchObject({
      available: false,
      unavailable_reason: 'no live worker of tag "default" can run it: program "only-on-api" is not installed on the tools\' PATH; install it on the workers (2 workers)',
      fleet: { workers: 2, able: 0, versions: [] },
    });
    // The worker without bubblewrap cannot keep it off the network: the other can.
    expect(tools.offline?.fleet).toMatchObject({ able: 1, unable: [{ reason: expect.stringMatching(/^it requires network: false, which this server cannot enforce/) as unknown, workers: 1 }] });
    expect(tools['edge-echo']).toMatchObject({ available: false, unavailable_reason: 'no live worker serves its tag "edge" (a worker with WORKER_TAGS=edge)', fleet: { tag: 'edge', workers: 0 } });
    expect(tools.report).toMatchObject({ available: true, fleet: { workers: 2, able: 2, unable: [] } });

    const { nodes } = (await api<Fleet>(apiNode.url, 'GET', '/fleet')).body;
    const said = (worker: TestServer) => nodes.find((n) => n.id === worker.url);
    expect(said(workerA)?.tools?.find((t) => t.name === 'only-a')).toEqual({ name: 'only-a', available: true, unavailable_reason: null, program: path.join(toolsA, 'bin/only-on-a'), version: '1.2.3' });
    expect(said(workerB)?.tools?.find((t) => t.name === 'only-a')).toMatchObject({ available: false, program: null, version: null });
    expect(said(workerB)?.tools?.map((t) => t.name).sort()).toEqual(['filler', 'offline', 'only-a', 'only-api', 'report']);
    expect(said(workerA)?.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('refuses a start no live worker can run, naming the tool and why: 409, or 503 while no worker of its tag is up', async () => {
    const none = await api<{ message: string }>(apiNode.url, 'POST', '/set/only-api');
    expect(none.status).toBe(409);
    expect(none.body.message).toBe('tool "only-api" is not available on this fleet: no live worker of tag "default" can run it: program "only-on-api" is not installed on the tools\' PATH; install it on the workers (2 workers)');
    const noWorker = await api<{ message: string }>(apiNode.url, 'POST', '/set/edge-echo');
    expect(noWorker.status).toBe(503);
    expect(noWorker.headers.get('retry-after')).toBe('5');
    expect(noWorker.body.message).toMatch(/^tool "edge-echo" cannot start now: no live worker serves its tag "edge"/);
    // Neither left a run behind.
    expect((await api<{ items: unknown[] }>(apiNode.url, 'GET', '/runs?name=only-api')).body.items).toEqual([]);

    // A worker of the tag comes: it said what it can run before taking runs, and the API node heard it at once.
    const edge = await startServer({ catalogFile, env: { ...base.env, WORKER_TAGS: 'edge' }, worker: true });
    try {
      const { run, lines } = await runToEnd(apiNode.url, 'edge-echo');
      expect([run.status, lines]).toEqual(['succeeded', ['on the edge']]);
    } finally {
      await edge.stop();
    }
    // It said it left: the tag has no worker again.
    expect((await catalog())['edge-echo']?.fleet?.workers).toBe(0);
  });

  it('a program installed on a worker is listed runnable there within WORKER_TOOLS_CHECK_S, with no restart', async () => {
    copyFileSync(path.join(toolsA, 'only-on-a-1.2.3', 'only-on-a'), path.join(toolsB, 'bin', 'only-on-a'));
    chmodSync(path.join(toolsB, 'bin', 'only-on-a'), 0o755);
    const listed = await waitFor('both workers to say they can run it', async () => ((await catalog())['only-a']?.fleet?.able === 2 ? (await catalog())['only-a'] : undefined));
    // Worker B's copy is no versioned install: only A's version is known.
    expect(listed.fleet).toMatchObject({ workers: 2, able: 2, unable: [], versions: ['1.2.3'] });
    const { run, lines } = await runToEnd(apiNode.url, 'only-a');
    expect([run.status, lines]).toEqual(['succeeded', ['only-on-a 1.2.3 ran']]);
  });
});

describe("issue 21: a worker's own files", () => {
  const filesOf = (runId: string) =>
    [workerA, workerB].flatMap((w) => [path.join(w.logDir, 'runs', `${runId}.log`), path.join(w.logDir, 'work', runId), path.join(w.logDir, 'artifacts', runId)]).filter((f) => existsSync(f));

  it('are deleted once retention deleted their run (the newest of each tool kept here), and kept while it lasts', async () => {
    const first = (await runToEnd(apiNode.url, 'report')).run;
    expect(first.status).toBe('succeeded');
    // Its log, working directory and artifacts, on the worker that ran it.
    expect(filesOf(first.run_id)).toHaveLength(3);
    const second = (await runToEnd(apiNode.url, 'report')).run;
    await waitFor('retention to delete the first run', async () => ((await api(apiNode.url, 'GET', `/runs/${first.run_id}`)).status === 404 ? true : undefined));
    await waitFor("the worker to delete the first run's files", () => (filesOf(first.run_id).length === 0 ? true : undefined));
    expect(filesOf(second.run_id)).toHaveLength(3);
    expect((await api<RunEnvelope>(apiNode.url, 'GET', `/runs/${second.run_id}`)).status).toBe(200);
  });

  it('are held to the run\'s disk limit: a run over it is stopped, saying so', async () => {
    const { run, lines } = await runToEnd(apiNode.url, 'filler');
    expect(run).toMatchObject({ status: 'failed', end_reason: 'disk_limit' });
    expect(run.error).toMatch(/over its disk limit of 1048576 bytes/);
    expect(lines).toContainEqual(expect.stringMatching(/^oss-runner: its work and artifact directories took \d+ bytes while it ran/));
    expect(processesWith('issue21-filler')).toEqual([]);
  });

  it("are a worker's alone: a second worker on its LOG_DIR is refused, naming it; an API node may share it", async () => {
    const refused = await startServer({ catalogFile, logDir: workerA.logDir, env: base.env, worker: true }).then(
      async (s) => (await s.stop(), 'started'),
      (e: Error) => e.message,
    );
    expect(refused).toContain(`LOG_DIR ${workerA.logDir} is in use by a worker (pid ${workerA.proc.pid} on host ${hostname()}`);
    const sharing = await startServer({ catalogFile, logDir: workerA.logDir, env: base.env });
    await sharing.stop();
    // Worker A goes on.
    expect((await api<Fleet>(apiNode.url, 'GET', '/fleet')).body.nodes.find((n) => n.id === workerA.url)?.alive).toBe(true);
  });
});
