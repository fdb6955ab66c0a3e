/**
 * Issue 21, items 1, 2 and 5: what a fleet keeps across its workers, on this machine's engines (an API
 * node and workers built as production runs them, a Redis of the test's own, a PostgreSQL schema of
 * its own). A tool's `concurrency` and `cache` hold across workers, and survive a worker's SIGKILL; a
 * stop reaches a worker cut from Redis; a run's end the database refuses is recorded once it can be,
 * a live worker's forgotten run is judged, and a run the fleet judged lost keeps that judgment.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../shared/src/schemas/fleet';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { fleetBase, TEST_PG, type FleetBase } from './fleetHarness';
import { api, endRun, linesOf, processesWith, readSse, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';
import { tcpRelay } from './tcpRelay';

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

  it("a run whose end the database refuses stays its live worker's, re-sent at each heartbeat, and is recorded once it can be", async () => {
    const { admin, schema } = base;
    await admin.query(`
      CREATE TABLE ${schema}.refused (name TEXT PRIMARY KEY);
      CREATE FUNCTION ${schema}.refuse_end() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status NOT IN ('queued', 'running') AND EXISTS (SELECT 1 FROM ${schema}.refused WHERE name = NEW.name) THEN
          RAISE EXCEPTION 'the test refuses the end of run %', NEW.run_id;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_end BEFORE UPDATE ON ${schema}.runs FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_end();
      INSERT INTO ${schema}.refused VALUES ('unrecorded');`);
    const run = await start('unrecorded');
    const worker = await waitFor('its worker to fail to record the end', () => workers.find((w) => w.output().includes(`recording the end of run ${run.run_id} failed`)));
    // Its worker lists it while it sends its end again: a whole lease of heartbeats, and nobody counts it lost.
    const listed = await waitFor('its worker to list it', async () => (await fleetOf()).nodes.find((n) => n.id === worker.url && n.running.includes(run.run_id)));
    await waitFor('a lease to pass with the run listed', async () => {
      const n = (await fleetOf()).nodes.find((n) => n.id === worker.url);
      return n?.alive && n.running.includes(run.run_id) && Date.parse(n.heartbeat_at) - Date.parse(listed.heartbeat_at) > LEASE_S * 1000 ? true : undefined;
    });
    expect((await getRun(run.run_id)).status).toBe('running');
    await admin.query(`DELETE FROM ${schema}.refused`);
    const ended = await waitFor('the end to be recorded', async () => {
      const r = await getRun(run.run_id);
      return r.status !== 'running' ? r : undefined;
    });
    expect(ended).toMatchObject({ status: 'succeeded', exit_code: 0, log_bytes: 5 });
    await waitFor('its worker to hold it no more', async () => ((await holderOf(run.run_id)) === undefined ? true : undefined));
  }, 40_000);

  it("a run recorded as a live worker's that the worker does not have ends lost (the reaper judges only dead workers)", async () => {
    const runId = randomUUID();
    const worker = workers[0];
    const at = new Date().toISOString();
    await base.admin.query(`INSERT INTO ${base.schema}.runs (run_id, name, cmd, params, status, created_at, started_at, owner) VALUES ($1, 'solo', '["true"]', '{}', 'running', $2, $2, $3)`, [runId, at, worker?.url]);
    const lost = await waitFor('the run to be judged', async () => {
      const r = await getRun(runId);
      return r.status === 'lost' ? r : undefined;
    });
    expect(lost).toMatchObject({ end_reason: 'lost', error: expect.stringMatching(/its worker, still in the fleet, no longer had it/) as string });
    expect((await fleetOf()).nodes.find((n) => n.id === worker?.url)?.alive).toBe(true);
  });

  it('a run that ended by itself while its worker was cut off from the database stays lost, as the fleet judged it', async () => {
    const relay = await tcpRelay(TEST_PG);
    const worker = await startWorker('gated', { DATABASE_URL: base.databaseUrlVia(relay.port) });
    const gate = mkdtempSync(path.join(gates, 'gate-'));
    // The tool may run as another user (RUN_AS_USER): it must be able to look in.
    for (const dir of [gates, gate]) chmodSync(dir, 0o755);
    try {
      const run = await start('gated', { gate });
      await untilStarted(run.run_id);
      await relay.cut();
      const lost = await waitFor('the fleet to count the run lost', async () => {
        const r = await getRun(run.run_id);
        return r.status === 'lost' ? r : undefined;
      });
      writeFileSync(path.join(gate, 'open'), '');
      await waitFor('the tool to end by itself', () => (processesWith('issue21-gated-marker').length === 0 ? true : undefined));
      await relay.restore();
      // Back in touch, the worker tries to record the end it saw; the record keeps the fleet's judgment.
      await waitFor('the worker to try to record the end', () => (worker.output().includes(`run ${run.run_id}: its end (succeeded) left unrecorded`) ? true : undefined), 30_000);
      expect(await getRun(run.run_id)).toMatchObject({ status: 'lost', end_reason: 'lost', exit_code: null, error: lost.error, finished_at: lost.finished_at });
    } finally {
      await relay.restore().catch(() => undefined);
      await worker.stop();
    }
  }, 60_000);
});
