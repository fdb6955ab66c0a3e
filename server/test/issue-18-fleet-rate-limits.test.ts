/**
 * Issue 18: on a fleet, rate limits are counted once for all its API nodes (in Redis), not per node: a
 * client whose requests a load balancer spreads over two nodes gets START_RATE_PER_MINUTE starts and
 * AUTH_FAILURES_PER_MINUTE failed authentications in all, as from a single server.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startServer, type TestServer } from './harness';

const PG = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CATALOG = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let admin: pg.Client;
let schema: string;
let nodeA: TestServer;
let nodeB: TestServer;
let worker: TestServer;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: PG });
  await admin.connect();
  schema = `osr_limits_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const env = {
    DATABASE_URL: `${PG}?options=-c%20search_path%3D${schema}`,
    REDIS_URL: REDIS,
    REDIS_PREFIX: `t${randomBytes(4).toString('hex')}`,
    ADMIN_API_KEY: `test-admin-${randomBytes(12).toString('hex')}`,
    START_RATE_PER_MINUTE: '2',
    AUTH_FAILURES_PER_MINUTE: '2',
  };
  // The first node migrates the schema; a worker runs what is started (an API node refuses a start no worker can run).
  nodeA = await startServer({ catalog: CATALOG, env });
  [nodeB, worker] = await Promise.all([startServer({ catalog: CATALOG, env }), startServer({ catalog: CATALOG, env, worker: true })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([nodeA, nodeB, worker].map((s) => s?.stop()));
  await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin?.end();
});

describe('rate limits on a fleet', () => {
  it('count starts per credential across API nodes', async () => {
    expect((await api(nodeA.url, 'POST', '/set/hello')).status).toBe(200);
    expect((await api(nodeB.url, 'POST', '/set/hello')).status).toBe(200);
    const third = await api(nodeA.url, 'POST', '/set/hello');
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api(nodeB.url, 'POST', '/set/hello')).status).toBe(429);
  });

  it('count failed authentications per address across API nodes', async () => {
    expect((await api(nodeA.url, 'GET', '/runs', undefined, bearer('wrong-1'))).status).toBe(401);
    expect((await api(nodeB.url, 'GET', '/runs', undefined, bearer('wrong-2'))).status).toBe(401);
    const blocked = await api(nodeA.url, 'GET', '/runs', undefined, bearer('wrong-3'));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api(nodeB.url, 'GET', '/runs', undefined, bearer('wrong-4'))).status).toBe(429);
  });
});
