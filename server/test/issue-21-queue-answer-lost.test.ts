/**
 * Issue 21, found by the fault run's cuts: a start whose job reached the queue but whose answer Redis
 * never got back to the API node (the connection cut as Redis replied). A worker took the job and ran the
 * tool; the API node, seeing only the error, recorded the run `failed` ("could not be queued") and
 * answered 503 "not started, try again", so a retry ran the tool twice. The start stands once a worker
 * has claimed the run. The lost answer is made exactly: a relay that passes the API node's commands to
 * Redis and, once told, withholds Redis's answers on the connection that sends the run's job.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { executionLog } from './faultFleet';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

/** A relay to Redis that passes every command, and withholds all answers on a connection once it sends `pattern` (`loseAnswersAfter`). */
async function answerLosingRelay(url: string) {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let pattern: string | null = null;
  const make = () =>
    net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      let silent = false;
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('data', (d: Buffer) => {
        if (pattern !== null && d.includes(pattern)) silent = true;
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => void (silent || client.write(d)));
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
  let server = make().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    loseAnswersAfter: (text: string) => void (pattern = text),
    async cut() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
    async restore() {
      pattern = null;
      server = make().listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
  };
}

let base: FleetBase;
let told: Awaited<ReturnType<typeof executionLog>>;
let relay: Awaited<ReturnType<typeof answerLosingRelay>>;
let node: TestServer;
let worker: TestServer;

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: '3' });
  told = await executionLog();
  // A tag of its own: its queue's name is in the job's command and in no other.
  const catalogFile = writeCatalog(
    tempDir(),
    `tools:\n  - name: told\n    tag: lossy\n    network: true\n    cmd: ["bash", "-c", "echo \\"start $1\\" >/dev/tcp/127.0.0.1/${told.port}; echo ran", "told", "{{key}}"]\n    params:\n      key: { type: string, pattern: "^[a-z-]+$", required: true }\n`,
  );
  relay = await answerLosingRelay(base.redis.url);
  node = await startServer({ catalogFile, env: { ...base.env, REDIS_URL: base.redisUrlVia(relay.port) }, built: true });
  worker = await startServer({ catalogFile, env: { ...base.env, WORKER_TAGS: 'lossy' }, worker: true, built: true });
}, 60_000);

afterAll(async () => {
  await Promise.all([node?.stop(), worker?.stop()]);
  told?.close();
  await base?.close();
});

const start = (key: string) => api<RunEnvelope & { message?: string }>(node.url, 'POST', '/set/told', { params: { key } });

describe('issue 21: a start whose queue answer is lost', () => {
  it('a run a worker took stands, though Redis never answered the API node: answered 200, run once, never recorded as failed', async () => {
    // Once first, so Redis holds the queue's scripts (a script not loaded yet would need a second answer).
    expect((await start('warm')).status).toBe(200);
    await waitFor('the first run to execute', () => told.executions.get('warm'));
    relay.loseAnswersAfter('runs.lossy');
    const answer = start('lost-answer');
    // The job landed: the worker ran it. Then the API node's connection to Redis is cut, its answer never given.
    await waitFor('the run to execute', () => told.executions.get('lost-answer'));
    await relay.cut();
    const res = await answer;
    await relay.restore();
    expect(res.status).toBe(200);
    const runId = res.body.run.run_id;
    const ended = await waitFor('the run to end', async () => {
      const r = (await api<RunEnvelope>(node.url, 'GET', `/runs/${runId}`)).body.run;
      return r.status !== 'queued' && r.status !== 'running' ? r : undefined;
    });
    expect(ended).toMatchObject<Partial<Run>>({ status: 'succeeded', exit_code: 0, error: null });
    expect(told.executions.get('lost-answer')).toBe(1);
  }, 60_000);
});
