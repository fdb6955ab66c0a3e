/**
 * Issue 21, items 1, 2 and 5: what a fleet keeps across its workers, on this machine's engines (an API
 * node and workers built as production runs them, a Redis of the test's own, a PostgreSQL schema of
 * its own). A tool's `concurrency` and `cache` hold across workers, and survive a worker's SIGKILL; a
 * stop reaches a worker cut from Redis; a run's end the database refuses is recorded once it can be,
 * a live worker's forgotten run is judged, and a run the fleet judged lost keeps that judgment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../shared/src/schemas/fleet';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, endRun, linesOf, processesWith, readSse, startServer, tcpRelay, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

const LEASE_S = 2;
const gates = tempDir('oss-runner-gates-');
/** Each line of output says when (date's nanoseconds, this machine's clock) the tool began and ended. */
const STAMPED = `["bash", "-c", "echo \\"start $(date +%s%N)\\"; sleep 0.3; echo \\"end $(date +%s%N)\\""]`;
const CATALOG = `
tools:
  - name: solo
    concurrency: 1
    cmd: ${STAMPED}
  - name: cache-a
    cache: shared-db
    cmd: ${STAMPED}
  - name: cache-b
    cache: shared-db
    cmd: ${STAMPED}
  - name: unrecorded
    cmd: ["echo", "done"]
  - name: held-sleeper
    tag: held
    concurrency: 1
    cmd: ["bash", "-c", "echo started; exec sleep 600 # issue21-held-marker"]
  - name: cut-sleeper
    tag: cut
    cmd: ["bash", "-c", "echo started; exec sleep 600 # issue21-cut-marker"]
  - name: gated
    tag: gated
    cmd: ["bash", "-c", "echo started; while [ ! -e \\"$1/open\\" ]; do sleep 0.1; done; echo done # issue21-gated-marker", "gated", "{{gate}}"]
    params:
      gate: { type: path, roots: ["${gates}"], required: true }
`;

let base: FleetBase;
let node: TestServer;
let workers: TestServer[] = [];
const catalogFile = writeCatalog(tempDir(), CATALOG);
const startWorker = (tags: string, env: Record<string, string> = {}) => startServer({ catalogFile, env: { ...base.env, WORKER_TAGS: tags, ...env }, worker: true, built: true });

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: String(LEASE_S), FLEET_WAIT_RETRY_S: '0.2', MAX_CONCURRENT_RUNS: '4' });
  node = await startServer({ catalogFile, env: base.env, built: true });
  workers = await Promise.all([startWorker('default'), startWorker('default')]);
}, 60_000);

afterAll(async () => {
  await Promise.all([node, ...workers].map((s) => s?.stop()));
  await base?.close();
});

const start = async (name: string, params?: Record<string, unknown>): Promise<Run> => {
  const res = await api<RunEnvelope>(node.url, 'POST', `/set/${name}`, params ? { params } : undefined);
  if (res.status !== 200) throw new Error(`POST /set/${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.run;
};
const getRun = async (runId: string): Promise<Run> => (await api<RunEnvelope>(node.url, 'GET', `/runs/${runId}`)).body.run;
const fleetOf = async (): Promise<Fleet> => (await api<Fleet>(node.url, 'GET', '/fleet')).body;
/** The live node (by id) whose last heartbeat lists the run. */
const holderOf = async (runId: string): Promise<string | undefined> => (await fleetOf()).nodes.find((n) => n.alive && n.running.includes(runId))?.id;
const untilStarted = (runId: string) => readSse(`${node.url}/runs/${runId}/logs`, {}, (e) => !e.data.includes('started'));

/** When each run's tool began and ended (from its own output), in the order the runs were started. */
async function spansOf(runs: Run[]): Promise<{ name: string; start: bigint; end: bigint }[]> {
  return Promise.all(
    runs.map(async (run) => {
      const { events } = await readSse(`${node.url}/runs/${run.run_id}/logs`);
      expect(endRun(events)).toMatchObject({ status: 'succeeded', exit_code: 0 });
      const [start, end] = linesOf(events).map((line) => BigInt(/^(?:start|end) (\d+)$/.exec(line)?.[1] ?? '0'));
      return { name: run.name, start: start ?? 0n, end: end ?? 0n };
    }),
  );
}

describe('issue 21: a fleet keeps limits, stops and ends across its workers', () => {
  it('a tool with concurrency 1 on two workers: five starts run one at a time, all of them, in the order started', async () => {
    const runs: Run[] = [];
    for (let i = 0; i < 5; i++) runs.push(await start('solo'));
    const spans = await spansOf(runs);
    for (let i = 1; i < spans.length; i++) {
      const [before, after] = [spans[i - 1], spans[i]];
      // Each began after the one started before it had ended: never two at once, and in their order.
      expect(after?.start).toBeGreaterThan(before?.end ?? 0n);
    }
  });

  it('two tools that share a cache never run at once, on whichever workers', async () => {
    const runs: Run[] = [];
    for (const name of ['cache-a', 'cache-b', 'cache-a', 'cache-b']) runs.push(await start(name));
    const spans = await spansOf(runs);
    const byStart = [...spans].sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < byStart.length; i++) expect(byStart[i]?.start).toBeGreaterThan(byStart[i - 1]?.end ?? 0n);
    // Each tool's runs keep their order among themselves.
    for (const name of ['cache-a', 'cache-b']) {
      const [first, second] = spans.filter((s) => s.name === name);
      expect(second?.start).toBeGreaterThan(first?.end ?? 0n);
    }
  });

  it("a worker killed with SIGKILL holds its tool's place no longer than its lease: the run waiting for it starts on the other worker", async () => {
    const held = await Promise.all([startWorker('held'), startWorker('held')]);
    try {
      const first = await start('held-sleeper');
      await untilStarted(first.run_id);
      const holder = await waitFor('the first run to be held', () => holderOf(first.run_id));
      const second = await start('held-sleeper');
      // A worker took its job and found the tool's one place taken: the job went back to the queue, delayed.
      await waitFor('the second run to wait its turn', async () => ((await fleetOf()).queues.find((q) => q.tag === 'held')?.delayed === 1 ? true : undefined));
      expect((await getRun(second.run_id)).status).toBe('queued');
      const victim = held.find((w) => w.url === holder);
      if (!victim) throw new Error(`no worker of ours holds ${first.run_id}`);
      await victim.crash();
      const running = await waitFor('the second run to start', async () => {
        const r = await getRun(second.run_id);
        return r.status === 'running' ? r : undefined;
      }, 20_000);
      expect(running.started_at).not.toBeNull();
      expect((await getRun(first.run_id)).status).toBe('lost');
      expect(await waitFor('the second run to be held', () => holderOf(second.run_id))).toBe(held.find((w) => w !== victim)?.url);
      expect((await api<RunEnvelope>(node.url, 'POST', `/runs/${second.run_id}/stop`)).body.run.status).toBe('stopped');
    } finally {
      await Promise.all(held.map((w) => w.stop()));
    }
  }, 40_000);

  it('a stop asked while its worker is cut from Redis reaches the worker through PostgreSQL, and the answer is the stopped run', async () => {
    const relay = await tcpRelay(base.redis.url);
    const worker = await startWorker('cut', { REDIS_URL: `redis://127.0.0.1:${relay.port}` });
    try {
      const run = await start('cut-sleeper');
      await untilStarted(run.run_id);
      expect(await waitFor('the run to be held', () => holderOf(run.run_id))).toBe(worker.url);
      await relay.cut();
      // The message reaches the other workers only; the cut one reads the stop at its next heartbeat.
      const stopped = await api<RunEnvelope>(node.url, 'POST', `/runs/${run.run_id}/stop`);
      expect(stopped.status).toBe(200);
      expect(stopped.body.run).toMatchObject({ status: 'stopped', end_reason: 'stopped', stopped_by: 'env:ADMIN_API_KEY', signal: 'SIGTERM' });
      expect(processesWith('issue21-cut-marker')).toEqual([]);
      // Back on Redis, the worker sends what the log lacks: it ends with the run's end.
      await relay.restore();
      const { events } = await readSse(`${node.url}/runs/${run.run_id}/logs`);
      expect(linesOf(events)).toEqual(['started']);
      expect(endRun(events).status).toBe('stopped');
    } finally {
      await relay.restore().catch(() => undefined);
      await worker.stop();
    }
  }, 40_000);
});
