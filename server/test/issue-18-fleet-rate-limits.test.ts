/**
 * Issue 18: on a fleet, rate limits are counted once for all its API nodes (in Redis), not per node: a
 * client whose requests a load balancer spreads over two nodes gets START_RATE_PER_MINUTE starts and
 * AUTH_FAILURES_PER_MINUTE failed authentications in all, as from a single server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, startServer, type TestServer } from './harness';

const CATALOG = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let base: FleetBase<null>;
let nodeA: TestServer;
let nodeB: TestServer;
let worker: TestServer;

beforeAll(async () => {
  base = await fleetBase({ START_RATE_PER_MINUTE: '2', AUTH_FAILURES_PER_MINUTE: '2' }, { redis: 'machine' });
  const { env } = base;
  // The first node migrates the schema; a worker runs what is started (an API node refuses a start no worker can run).
  nodeA = await startServer({ catalog: CATALOG, env });
  [nodeB, worker] = await Promise.all([startServer({ catalog: CATALOG, env }), startServer({ catalog: CATALOG, env, worker: true })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([nodeA, nodeB, worker].map((s) => s?.stop()));
  await base?.close();
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
