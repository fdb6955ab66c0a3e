/**
 * A fleet on this machine's engines: two API nodes (`npm start`) and two workers (`npm run worker`),
 * built as production runs them, each its own process with its own LOG_DIR, sharing a PostgreSQL schema of their own and a Redis
 * started by the test (redis-server from Debian, on a free port, so the test can kill and restart it
 * without touching the machine's). Runs start on one node and are read, resumed, stopped and listed
 * on the other; a worker killed with SIGKILL loses its run within the lease; Redis restarted mid-run
 * loses no line.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../shared/src/schemas/fleet';
import type { Health } from '../../shared/src/schemas/health';
import type { LogTimes } from '../../shared/src/schemas/logEvent';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { streamKey } from '../src/fleet/logStreams';
import { fleetBase, TEST_PG, type FleetBase } from './fleetHarness';
import { api, endRun, fetchAuthed, linesOf, processesWith, rawLog, readSse, startServer, tempDir, trpcClient, waitFor, writeCatalog, type TestServer } from './harness';
import { tcpRelay } from './tcpRelay';

const LEASE_S = 2;
const CATALOG = `
tools:
  - name: hello
    cmd: ["echo", "hello"]
  - name: counter
    cmd: ["bash", "-c", "for i in $(seq 1 40); do seq -f \\"line $i-%g\\" 1 50; sleep 0.05; done"]
  - name: ticker
    cmd: ["bash", "-c", "for i in $(seq 1 40); do echo tick $i; sleep 0.1; done"]
  - name: sleeper
    cmd: ["bash", "-c", "echo started; exec sleep 600 # fleet-sleeper-marker"]
  - name: edge-sleeper
    tag: edge
    cmd: ["bash", "-c", "echo started on the edge; exec sleep 600"]
  - name: absent
    cmd: ["no-such-program-on-the-workers"]
  - name: fenced-sleeper
    tag: fenced
    cmd: ["bash", "-c", "echo started; exec sleep 600 # fleet-fenced-marker"]
  - name: report
    cmd: ["bash", "-c", "echo made by a worker > $1/out.txt; echo done", "report", "{{artifacts}}"]
    artifacts: [out.txt]
  - name: nowhere
    tag: nowhere
    cmd: ["echo", "no worker serves this tag"]
`;

let base: FleetBase;
let s3server: S3rver;
let apiA: TestServer;
let apiB: TestServer;
let workers: TestServer[];
const catalogFile = writeCatalog(tempDir(), CATALOG);

const startWorker = (tags = 'default') => startServer({ catalogFile, env: { ...base.env, WORKER_TAGS: tags }, worker: true, built: true });

beforeAll(async () => {
  // Finished runs go to S3, from where API nodes serve what stays on workers' disks (artifacts).
  s3server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: tempDir('s3rver-'), configureBuckets: [{ name: 'fleet', configs: [] }] });
  const { port: s3Port } = await s3server.run();
  base = await fleetBase({
    FLEET_LEASE_S: String(LEASE_S),
    MAX_CONCURRENT_RUNS: '4',
    S3_BUCKET: 'fleet',
    S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
  });
  // The first node migrates the schema; the others start together.
  apiA = await startServer({ catalogFile, env: base.env, built: true });
  [apiB, ...workers] = await Promise.all([startServer({ catalogFile, env: base.env, built: true }), startWorker('default'), startWorker('default,edge')]);
}, 60_000);

afterAll(async () => {
  await Promise.all([apiA, apiB, ...(workers ?? [])].map((s) => s?.stop()));
  await s3server?.close();
  await base?.close();
});

const start = async (node: TestServer, name: string): Promise<Run> => {
  const res = await api<RunEnvelope>(node.url, 'POST', `/set/${name}`);
  if (res.status !== 200) throw new Error(`POST /set/${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.run;
};
const getRun = async (node: TestServer, runId: string): Promise<Run> => (await api<RunEnvelope>(node.url, 'GET', `/runs/${runId}`)).body.run;
const fleetOf = async (node: TestServer): Promise<Fleet> => (await api<Fleet>(node.url, 'GET', '/fleet')).body;
/** The worker (by node id) that holds a run now. */
const holderOf = async (runId: string): Promise<string | undefined> => (await fleetOf(apiA)).nodes.find((n) => n.running.includes(runId))?.id;

const counterLines = Array.from({ length: 40 }, (_, i) => Array.from({ length: 50 }, (_, j) => `line ${i + 1}-${j + 1}`)).flat();
const ticks = Array.from({ length: 40 }, (_, i) => `tick ${i + 1}`);

describe('a fleet: two API nodes, two workers, PostgreSQL and Redis', () => {
  it('a run started on one API node streams live to readers on both, and its raw log is the same everywhere', async () => {
    const run = await start(apiA, 'counter');
    expect(run.status).toBe('queued');
    const [onB, onA] = await Promise.all([readSse(`${apiB.url}/runs/${run.run_id}/logs`), readSse(`${apiA.url}/runs/${run.run_id}/logs`)]);
    for (const { events } of [onB, onA]) {
      expect(linesOf(events)).toEqual(counterLines);
      expect(endRun(events)).toMatchObject({ run_id: run.run_id, status: 'succeeded', exit_code: 0 });
    }
    // The live stream came in pieces as the tool wrote them, not as one block at the end.
    expect(onB.events.length).toBeGreaterThan(5);
    const expected = counterLines.join('\n') + '\n';
    for (const node of [apiA, apiB]) expect(await (await fetchAuthed(`${node.url}/runs/${run.run_id}/log`)).text()).toBe(expected);
    // When each part arrived travels with the log: the worker's index, the same on both nodes.
    const [timesA, timesB] = await Promise.all([apiA, apiB].map(async (node) => (await api<LogTimes>(node.url, 'GET', `/runs/${run.run_id}/log-times`)).body));
    expect(timesB).toEqual(timesA);
    expect(timesA?.log_bytes).toBe(expected.length);
    // 40 blocks 50 ms apart, an entry per 100 ms at most.
    expect(timesA?.offsets.length).toBeGreaterThan(5);
    expect(timesA?.offsets.every((o, i) => (o === 0 || expected[o - 1] === '\n') && (i === 0 || o > (timesA.offsets[i - 1] ?? 0)))).toBe(true);
  });

  it('a reader that moves to the other node resumes from its last id: nothing lost, nothing repeated', async () => {
    const run = await start(apiB, 'ticker');
    let lastId = '';
    let read = 0;
    const first = await readSse(`${apiA.url}/runs/${run.run_id}/logs`, {}, (e) => {
      lastId = e.id ?? lastId;
      read += linesOf([e]).length;
      return read < 10;
    });
    const rest = await readSse(`${apiB.url}/runs/${run.run_id}/logs`, { 'Last-Event-ID': lastId });
    expect([...linesOf(first.events), ...linesOf(rest.events)]).toEqual(ticks);
    expect(linesOf(first.events).length).toBeLessThan(ticks.length);
    expect(endRun(rest.events).status).toBe('succeeded');
  });

  it('run changes reach live lists on every node (runs.onChange over WebSocket)', async () => {
    const { client, close } = trpcClient(apiB.url);
    const seen: Run[] = [];
    let runId = '';
    const statuses = () => seen.filter((r) => r.run_id === runId).map((r) => r.status);
    let stopAsked = false;
    // Once the run is known and running (whichever is learnt first), stop it.
    const stopWhenRunning = () => {
      if (stopAsked || !statuses().includes('running')) return;
      stopAsked = true;
      void api(apiA.url, 'POST', `/runs/${runId}/stop`);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const sub = client.runs.onChange.subscribe(undefined, {
          onStarted: () =>
            void start(apiA, 'sleeper').then((r) => {
              runId = r.run_id;
              stopWhenRunning();
            }, reject),
          onData: (run) => {
            seen.push(run);
            if (run.run_id !== runId) return;
            stopWhenRunning();
            if (run.status === 'stopped') {
              sub.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        });
      });
    } finally {
      await close();
    }
    // Created on A, started on a worker, stopped through A: each change reached B's list. A reader
    // gets each run's latest state (runChanges): when `queued` and `running` reach B together, as
    // they may through Redis, the list shows `running` alone.
    expect([['queued', 'running', 'stopped'], ['running', 'stopped']]).toContainEqual(statuses());
  });

  it('a run is stopped from the node that did not start it, on whichever worker holds it', async () => {
    const run = await start(apiA, 'sleeper');
    await readSse(`${apiB.url}/runs/${run.run_id}/logs`, {}, (e) => !e.data.includes('started'));
    // The worker's next heartbeat lists it.
    expect(await waitFor('the run to be held', () => holderOf(run.run_id))).toMatch(/^worker-/);
    const asked = Date.now();
    const stopped = await api<RunEnvelope>(apiB.url, 'POST', `/runs/${run.run_id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body.run).toMatchObject({ status: 'stopped', end_reason: 'stopped', stopped_by: 'env:ADMIN_API_KEY', signal: 'SIGTERM' });
    // Figures belong to the benchmarks; this only says the stop did not wait for a lease or a poll.
    expect(Date.now() - asked).toBeLessThan(5000);
    expect(processesWith('fleet-sleeper-marker')).toEqual([]);
    expect((await getRun(apiA, run.run_id)).status).toBe('stopped');
  });

  it('tagged tools run only on workers of their tag; a tag no worker serves is refused; a run no worker has taken stops at once', async () => {
    const edge = await start(apiA, 'edge-sleeper');
    const holder = await waitFor('the edge run to be held', () => holderOf(edge.run_id));
    const fleet = await fleetOf(apiB);
    expect(fleet.nodes.find((n) => n.id === holder)?.tags).toContain('edge');
    await api(apiA.url, 'POST', `/runs/${edge.run_id}/stop`);

    // The API node knows no live worker serves the tag: the start is refused, not left to wait.
    const refused = await api<{ message: string }>(apiB.url, 'POST', '/set/nowhere');
    expect(refused.status).toBe(503);
    expect(refused.body.message).toMatch(/^tool "nowhere" cannot start now: no live worker serves its tag "nowhere"/);

    // The edge worker's slots all taken (MAX_CONCURRENT_RUNS=4, and as many jobs of a queue at once): one
    // more edge run waits in the queue, where no worker can take it while the four go on.
    const busy = await Promise.all([1, 2, 3, 4].map(() => start(apiA, 'edge-sleeper')));
    try {
      await waitFor('the edge worker to hold four runs', async () => ((await fleetOf(apiA)).nodes.find((n) => n.id === holder)?.running.length === 4 ? true : undefined));
      const waiting = await start(apiB, 'edge-sleeper');
      await waitFor('its job to wait in the queue', async () => ((await fleetOf(apiA)).queues.find((q) => q.tag === 'edge')?.waiting === 1 ? true : undefined));
      expect((await getRun(apiA, waiting.run_id)).status).toBe('queued');
      const stopped = await api<RunEnvelope>(apiA.url, 'POST', `/runs/${waiting.run_id}/stop`);
      expect(stopped.body.run).toMatchObject({ status: 'stopped', stopped_by: 'env:ADMIN_API_KEY', started_at: null });
    } finally {
      await Promise.all(busy.map((r) => api(apiA.url, 'POST', `/runs/${r.run_id}/stop`)));
    }
  });

  it('a tool no live worker can run is refused at the start, saying why: the workers said what they can run', async () => {
    // The API node runs no tool: what it knows of the workers' programs, they told it.
    const res = await api<{ message: string }>(apiA.url, 'POST', '/set/absent');
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/^tool "absent" is not available on this fleet: no live worker of tag "default" can run it: program "no-such-program-on-the-workers" is not installed on the tools' PATH \(2 workers\)$/);
  });

  it("a worker's artifacts are served by any API node, from their copy in S3", async () => {
    const run = await start(apiA, 'report');
    await readSse(`${apiA.url}/runs/${run.run_id}/logs`);
    const archived = await waitFor('the run to be archived', async () => {
      const r = await getRun(apiB, run.run_id);
      return r.archived_at ? r : undefined;
    });
    expect(archived.artifacts.map((a) => a.name)).toEqual(['out.txt']);
    // Not on the API node's disk: a redirect to the presigned copy, which needs no credential.
    const res = await fetchAuthed(`${apiB.url}/runs/${run.run_id}/artifacts/out.txt`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const copy = await fetch(res.headers.get('location') ?? '');
    expect(await copy.text()).toBe('made by a worker\n');
  });

  it('a log whose stream is gone comes from S3 to a node that never copied it; what S3 lacks is said, in as many bytes', async () => {
    const [archivedRun, unarchivedRun] = [await start(apiA, 'counter'), await start(apiA, 'ticker')];
    for (const run of [archivedRun, unarchivedRun]) await readSse(`${apiA.url}/runs/${run.run_id}/logs`);
    const archivedOf = (run: Run) =>
      waitFor('the run to be archived', async () => {
        const r = await getRun(apiB, run.run_id);
        return r.archived_at ? r : undefined;
      });
    const [archived, unarchived] = [await archivedOf(archivedRun), await archivedOf(unarchivedRun)];
    // As if LOG_STREAM_TTL_S had passed; and one log missing from S3 as well.
    const redisClient = new Redis(base.redis.url);
    const s3 = new S3Client({ region: 'us-east-1', endpoint: base.env.S3_ENDPOINT, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      await redisClient.del(streamKey(base.env.REDIS_PREFIX ?? '', archived.run_id), streamKey(base.env.REDIS_PREFIX ?? '', unarchived.run_id));
      await s3.send(new DeleteObjectCommand({ Bucket: 'fleet', Key: `oss-runner/runs/${unarchived.run_id}/log` }));
    } finally {
      redisClient.disconnect();
      s3.destroy();
    }
    const fromS3 = await rawLog(apiB.url, archived.run_id);
    expect(fromS3.length).toBe(archived.log_bytes);
    // Its arrival times came from S3 too.
    const timesOf = async (node: TestServer) => (await api<LogTimes>(node.url, 'GET', `/runs/${archived.run_id}/log-times`)).body;
    const fromA = await timesOf(apiA);
    expect(fromA.offsets.length).toBeGreaterThan(5);
    expect(await timesOf(apiB)).toEqual(fromA);
    expect(fromS3.equals(await rawLog(apiA.url, archived.run_id))).toBe(true);
    expect(linesOf((await readSse(`${apiB.url}/runs/${archived.run_id}/logs`)).events)).toHaveLength(2000);

    const said = await rawLog(apiB.url, unarchived.run_id);
    expect(said.length).toBe(unarchived.log_bytes);
    expect(said.toString()).not.toContain('tick');
    expect(said.toString()).toContain(`${unarchived.log_bytes} bytes of output are not on this node: the worker that ran it keeps them`);
  });

  it('/health counts the fleet, /fleet shows who is alive and what each runs (admin), /metrics has the fleet', async () => {
    const health = (await api<Health>(apiB.url, 'GET', '/health', undefined, { authorization: '' })).body;
    expect(health.fleet).toMatchObject({ api_nodes: 2, workers: 2 });
    expect(health.runs?.total).toBeGreaterThan(0);
    expect((await api(apiA.url, 'GET', '/fleet', undefined, { authorization: '' })).status).toBe(401);
    const fleet = await fleetOf(apiA);
    expect(fleet.nodes.filter((n) => n.alive).map((n) => n.role).sort()).toEqual(['api', 'api', 'worker', 'worker']);
    expect(fleet.nodes.find((n) => n.role === 'worker')).toMatchObject({ concurrency: 4, host: expect.any(String) as string });
    expect(fleet.queues.map((q) => q.tag).sort()).toEqual(['default', 'edge', 'fenced', 'nowhere']);
    const metrics = await (await fetchAuthed(`${apiA.url}/metrics`)).text();
    expect(metrics).toMatch(/oss_runner_fleet_nodes\{role="worker"\} 2/);
    expect(metrics).toMatch(/oss_runner_fleet_queue_jobs\{tag="default",state="waiting"\} \d+/);
  });

  it('a run id is executed at most once: its job delivered again changes nothing', async () => {
    const run = await start(apiA, 'hello');
    const { events } = await readSse(`${apiB.url}/runs/${run.run_id}/logs`);
    const ended = endRun(events);
    const queue = new Queue('runs.default', { connection: { url: base.redis.url }, prefix: base.env.REDIS_PREFIX });
    try {
      await queue.add('run', { run_id: run.run_id, name: 'hello' }, { jobId: run.run_id, removeOnComplete: true, removeOnFail: true });
      await waitFor('the job to be taken', async () => (await queue.getJobCounts('waiting', 'active')).waiting === 0 && (await queue.getJobCounts('active')).active === 0);
    } finally {
      await queue.close();
    }
    const after = await getRun(apiB, run.run_id);
    expect(after).toMatchObject({ status: 'succeeded', started_at: ended.started_at, finished_at: ended.finished_at, log_bytes: 6 });
    expect(await (await fetchAuthed(`${apiA.url}/runs/${run.run_id}/log`)).text()).toBe('hello\n');
  });

  it('Redis restarted in the middle of a run: starts fail clearly meanwhile, no line is lost, the fleet recovers', async () => {
    const run = await start(apiA, 'ticker');
    let read = 0;
    const reading = readSse(`${apiB.url}/runs/${run.run_id}/logs`, {}, (e) => void (read += linesOf([e]).length));
    await waitFor('the first ticks to reach the reader', () => read >= 5);
    await base.redis.kill();
    const refused = await api<{ message: string }>(apiB.url, 'POST', '/set/hello', undefined, { 'idempotency-key': 'during-the-outage' });
    expect(refused.status).toBe(503);
    expect(refused.body.message).toMatch(/Redis/);
    // Redis stays down while the tool writes more (its worker's own copy of the log grows): lines the
    // reader can only get once the worker catches up.
    const written = () => workers.map((w) => path.join(w.logDir, 'runs', `${run.run_id}.log`)).filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8').split('\n').length - 1)[0] ?? 0;
    const atOutage = written();
    await waitFor('the tool to write while Redis is down', () => written() >= atOutage + 5);
    await base.redis.start();
    const { events } = await reading;
    expect(linesOf(events)).toEqual(ticks);
    expect(endRun(events).status).toBe('succeeded');
    // The queue works again (the workers reconnected), and the refused start is on record as failed, not left queued.
    const again = await start(apiB, 'hello');
    const { events: helloEvents } = await readSse(`${apiA.url}/runs/${again.run_id}/logs`);
    expect(linesOf(helloEvents)).toEqual(['hello']);
    const failed = (await api<{ items: Run[] }>(apiA.url, 'GET', '/runs?name=hello&status=failed')).body.items;
    expect(failed[0]?.error).toMatch(/could not be queued/);
    // The 503 said "try again": the retry with the same Idempotency-Key starts the run, rather than answering the failed one.
    const retried = await api<RunEnvelope>(apiA.url, 'POST', '/set/hello', undefined, { 'idempotency-key': 'during-the-outage' });
    expect(retried.status).toBe(200);
    expect(retried.body.run.run_id).not.toBe(failed[0]?.run_id);
    expect(linesOf((await readSse(`${apiA.url}/runs/${retried.body.run.run_id}/logs`)).events)).toEqual(['hello']);
  }, 30_000);

  it('a worker cut off from the database past its lease: the fleet counts its run lost, and the worker ends it once it can see that', async () => {
    const relay = await tcpRelay(TEST_PG);
    const cutOff = await startServer({
      catalogFile,
      env: { ...base.env, WORKER_TAGS: 'fenced', DATABASE_URL: base.databaseUrlVia(relay.port) },
      worker: true,
      built: true,
    });
    try {
      const run = await start(apiA, 'fenced-sleeper');
      await readSse(`${apiB.url}/runs/${run.run_id}/logs`, {}, (e) => !e.data.includes('started'));
      await relay.cut();
      // The API nodes see its lease run out and count the run lost; the tool goes on meanwhile (a database
      // outage for everyone must not end every run).
      await waitFor('the run to be lost', async () => ((await getRun(apiA, run.run_id)).status === 'lost' ? true : undefined), 15_000);
      expect(processesWith('fleet-fenced-marker').length).toBeGreaterThan(0);
      await relay.restore();
      // Back in touch, the worker sees the fleet counted its run lost, ends the tool and says why: still lost.
      await waitFor('the tool to be ended by its worker', () => (processesWith('fleet-fenced-marker').length === 0 ? true : undefined), 15_000);
      const ended = await waitFor('the worker to record the end', async () => {
        const r = await getRun(apiB, run.run_id);
        return r.error?.includes('could not renew its lease') ? r : undefined;
      }, 30_000);
      expect(ended).toMatchObject({ status: 'lost', end_reason: 'lost', started_at: expect.any(String) as string });
      expect(ended.signal).not.toBeNull();
    } finally {
      await relay.restore().catch(() => undefined);
      await cutOff.stop();
    }
  }, 60_000);

  it('a worker killed with SIGKILL mid-run: its run becomes lost within the lease, its processes die with it, the other worker goes on', async () => {
    const run = await start(apiA, 'sleeper');
    await readSse(`${apiA.url}/runs/${run.run_id}/logs`, {}, (e) => !e.data.includes('started'));
    const holder = await waitFor('the run to be held', () => holderOf(run.run_id));
    const victim = workers.find((w) => w.url === holder);
    if (!victim) throw new Error(`no worker holds ${run.run_id}`);
    await victim.crash();
    const killedAt = Date.now();
    const lost = await waitFor('the run to be lost', async () => ((await getRun(apiB, run.run_id)).status === 'lost' ? getRun(apiB, run.run_id) : undefined), 20_000);
    // The lease (2 s here) plus at most one housekeeping beat (a sixth of it) and the request.
    expect(Date.now() - killedAt).toBeLessThan((LEASE_S + 3) * 1000);
    expect(lost).toMatchObject({ end_reason: 'lost', error: expect.stringMatching(/lease/) as string });
    expect(processesWith('fleet-sleeper-marker')).toEqual([]);
    const { events } = await readSse(`${apiB.url}/runs/${run.run_id}/logs`);
    expect(linesOf(events)).toEqual(['started']);
    expect(endRun(events).status).toBe('lost');
    const next = await start(apiB, 'hello');
    const { events: helloEvents } = await readSse(`${apiB.url}/runs/${next.run_id}/logs`);
    expect(endRun(helloEvents).status).toBe('succeeded');
    workers = workers.filter((w) => w !== victim);
  }, 30_000);

  it("an API node's death loses no run: the run goes on on its worker and streams whole from the other node", async () => {
    const run = await start(apiA, 'ticker');
    await readSse(`${apiA.url}/runs/${run.run_id}/logs`, {}, (e) => !e.data.includes('tick 3'));
    await apiA.crash();
    const { events } = await readSse(`${apiB.url}/runs/${run.run_id}/logs`);
    expect(linesOf(events)).toEqual(ticks);
    expect(endRun(events).status).toBe('succeeded');
  });
});
