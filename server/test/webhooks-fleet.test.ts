/**
 * Webhooks on a fleet (two API nodes and a worker, on PostgreSQL and Redis): every API node hears
 * every run's end, yet each delivery is recorded once and each attempt made by one node, retries
 * included. And the claim itself: two pools claiming the same due rows at once get none in common
 * (FOR UPDATE SKIP LOCKED).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import type { CreatedWebhook, DeliveryList } from '../../shared/src/schemas/webhook';
import { openPool } from '../src/store/pgDb';
import { PgWebhookStore } from '../src/store/pgWebhookStore';
import { fleetBase, schemaUrl, type FleetBase } from './fleetHarness';
import { api, startServer, waitFor, type TestServer } from './harness';

const CATALOG = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n  - name: fail\n    cmd: ["bash", "-c", "exit 2"]\n';

let base: FleetBase<null>;
let nodes: TestServer[] = [];
const received: { path: string; delivery: string; runId: string }[] = [];
const answers = new Map<string, number[]>();
let receiver: http.Server;
let receiverPort: number;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, delivery: String(req.headers['x-oss-runner-delivery']), runId: (JSON.parse(body) as { run: Run }).run.run_id });
      res.writeHead(answers.get(path)?.shift() ?? 200);
      res.end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiverPort = (receiver.address() as AddressInfo).port;

  base = await fleetBase({ WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', WEBHOOK_RETRY_BASE_S: '0.3', WEBHOOK_POLL_S: '0.1' }, { redis: 'machine' });
  const { env } = base;
  // The first node migrates the schema; the others start together.
  const first = await startServer({ catalog: CATALOG, env });
  nodes = [first, ...(await Promise.all([startServer({ catalog: CATALOG, env }), startServer({ catalog: CATALOG, env, worker: true })]))];
}, 60_000);

afterAll(async () => {
  await Promise.all(nodes.map((s) => s.stop()));
  await base?.close();
  await new Promise((r) => receiver.close(r));
});

const start = async (node: TestServer, name: string): Promise<Run> => {
  const res = await api<RunEnvelope>(node.url, 'POST', `/set/${name}`);
  if (res.status !== 200) throw new Error(`POST /set/${name} answered ${res.status}`);
  return res.body.run;
};

describe('webhooks on a fleet', () => {
  it('sends each run end once, though both API nodes hear it, and each retry from one node', async () => {
    const [apiA, apiB] = nodes as [TestServer, TestServer];
    const created = await api<CreatedWebhook>(apiA.url, 'POST', '/webhooks', { url: `http://127.0.0.1:${receiverPort}/fleet`, filter: { tools: ['hello'] } });
    const flaky = await api<CreatedWebhook>(apiB.url, 'POST', '/webhooks', { url: `http://127.0.0.1:${receiverPort}/flaky`, filter: { tools: ['fail'] } });
    expect([created.status, flaky.status]).toEqual([200, 200]);
    answers.set('/flaky', [500, 500, 500]);
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => start(i % 2 ? apiA : apiB, 'hello')));
    const failed = await start(apiA, 'fail');
    const ids = runs.map((r) => r.run_id).sort();
    await waitFor('ten deliveries', () => received.filter((r) => r.path === '/fleet').length >= 10, 30_000);
    await waitFor('the fourth attempt', () => received.filter((r) => r.path === '/flaky').length >= 4, 30_000);
    // Long enough for a second node's duplicate, if there were one, to arrive.
    await new Promise((r) => setTimeout(r, 1500));
    const fleet = received.filter((r) => r.path === '/fleet');
    expect(fleet.map((r) => r.runId).sort()).toEqual(ids);
    expect(new Set(fleet.map((r) => r.delivery)).size).toBe(10);
    const attempts = received.filter((r) => r.path === '/flaky');
    expect(attempts).toHaveLength(4);
    expect(new Set(attempts.map((r) => `${r.runId} ${r.delivery}`))).toEqual(new Set([`${failed.run_id} ${attempts[0]?.delivery}`]));
    const listed = await api<DeliveryList>(apiB.url, 'GET', `/webhooks/${flaky.body.endpoint.id}/deliveries`);
    expect(listed.body.items).toMatchObject([{ run_id: failed.run_id, state: 'delivered', attempts: 4, response_status: 200 }]);
  });

  it('gives a row claimed by two pools at once to one of them (FOR UPDATE SKIP LOCKED)', async () => {
    // A schema of its own: the fleet's nodes above claim due rows of theirs too.
    const own = `osr_claims_${randomBytes(6).toString('hex')}`;
    await base.admin.query(`CREATE SCHEMA ${own}`);
    const ownUrl = schemaUrl(own);
    const first = await openPool(ownUrl, 'fleet');
    const pools = [first, await openPool(ownUrl, 'fleet')];
    try {
      const [a, b] = pools.map((p) => new PgWebhookStore(p.pool)) as [PgWebhookStore, PgWebhookStore];
      const at = new Date().toISOString();
      const endpoint = { id: 'wh_claims', url: 'http://127.0.0.1:9/', description: '', format: 'json' as const, enabled: true, filter: { tools: [], statuses: [], outcomes: [], new_findings_min_severity: null }, secret: 'whsec_x', created_at: at, created_by: null, updated_at: at };
      await a.insert(endpoint);
      const due = new Date(Date.now() - 1000).toISOString();
      expect(await a.enqueue(Array.from({ length: 60 }, () => ({ id: randomUUID(), endpoint_id: endpoint.id, event: 'run.ended' as const, run_id: randomUUID(), payload: '{}', created_at: at, next_attempt_at: due, redelivery_of: null })))).toBe(60);
      const lease = new Date(Date.now() + 60_000).toISOString();
      // Six claims of 20 at once from two pools: 60 rows, each taken once.
      const rounds = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).claim(new Date().toISOString(), lease, 20)));
      const taken = rounds.flat().map((d) => d.id);
      expect(taken).toHaveLength(60);
      expect(new Set(taken).size).toBe(60);
      const { rows } = await base.admin.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${own}.webhook_deliveries WHERE attempts = 1 AND state = 'sending'`);
      expect(rows[0]?.n).toBe(60);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await base.admin.query(`DROP SCHEMA IF EXISTS ${own} CASCADE`);
    }
  });
});
