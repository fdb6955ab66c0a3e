/**
 * Schedules on a fleet: two API nodes tick at the same instants (just after each whole second) over one
 * PostgreSQL schema, with a worker to run what they queue. Each occurrence fires exactly once across
 * them, through the database (the run's idempotency claim, then a conditional UPDATE), also when a node
 * is killed at the fire time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunList } from '../../shared/src/schemas/run';
import type { Schedule, ScheduleEnvelope } from '../../shared/src/schemas/schedule';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

const catalogFile = writeCatalog(tempDir(), 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n');

let base: FleetBase<null>;
let nodeA: TestServer;
let nodeB: TestServer;
let worker: TestServer;

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: '2' }, { redis: 'machine' });
  const { env } = base;
  // The first node migrates the schema.
  nodeA = await startServer({ catalogFile, env });
  [nodeB, worker] = await Promise.all([startServer({ catalogFile, env }), startServer({ catalogFile, env, worker: true })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([nodeA, nodeB, worker].map((s) => s?.stop()));
  await base?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secondsAway = (ms: number) => Math.ceil((Date.now() + ms) / 1000) * 1000;
const firingAt = (t: number) => `${new Date(t).getUTCSeconds()} * * * * *`;

async function create(node: TestServer, cron: string): Promise<Schedule> {
  const res = await api<ScheduleEnvelope>(node.url, 'POST', '/schedules', { name: 'hello', cron });
  if (res.status !== 200) throw new Error(`POST /schedules answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.schedule;
}
/** Every run the schedule started, as the shared database has them (oldest first). */
async function runsOf(node: TestServer, id: string): Promise<Run[]> {
  const { body } = await api<RunList>(node.url, 'GET', '/runs?limit=500');
  return body.items.filter((r) => r.requested_by === `schedule:${id}`).reverse();
}
const rowsOf = async (id: string) => (await base.admin.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${base.schema}.runs WHERE requested_by = $1`, [`schedule:${id}`])).rows[0]?.n;

describe('schedules on a fleet of two API nodes', () => {
  it('fire one occurrence once: one run, which a worker runs', async () => {
    const at = secondsAway(3000);
    const s = await create(nodeA, firingAt(at));
    const done = await waitFor('the run to end', async () => {
      const runs = await runsOf(nodeB, s.schedule_id);
      return runs[0]?.status === 'succeeded' ? runs : undefined;
    });
    await sleep(1500);
    expect(done).toHaveLength(1);
    expect(await rowsOf(s.schedule_id)).toBe(1);
    const fired = (await api<ScheduleEnvelope>(nodeB.url, 'GET', `/schedules/${s.schedule_id}`)).body.schedule;
    expect(fired).toMatchObject({ last_result: 'started', last_fired_at: new Date(at).toISOString(), last_run_id: done[0]?.run_id });
    await api(nodeA.url, 'DELETE', `/schedules/${s.schedule_id}`);
  });

  it('fire every occurrence of a schedule once, whichever node gets there first', async () => {
    const s = await create(nodeB, '* * * * * *');
    await sleep(5000);
    await api(nodeA.url, 'DELETE', `/schedules/${s.schedule_id}`);
    const runs = await runsOf(nodeA, s.schedule_id);
    const seconds = runs.map((r) => r.created_at.slice(0, 19));
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seconds).size).toBe(seconds.length);
    expect(await rowsOf(s.schedule_id)).toBe(runs.length);
  });

  it('fire an occurrence once when a node is killed at its time', async () => {
    const at = secondsAway(3000);
    const s = await create(nodeA, firingAt(at));
    // Both nodes tick 5 ms after the whole second: node A dies right then.
    await sleep(at + 5 - Date.now());
    await nodeA.crash();
    const runs = await waitFor('the run', async () => {
      const found = await runsOf(nodeB, s.schedule_id);
      return found.length ? found : undefined;
    });
    await sleep(2500);
    expect(await rowsOf(s.schedule_id)).toBe(1);
    expect((await runsOf(nodeB, s.schedule_id)).map((r) => r.run_id)).toEqual([runs[0]?.run_id]);
    const fired = (await api<ScheduleEnvelope>(nodeB.url, 'GET', `/schedules/${s.schedule_id}`)).body.schedule;
    expect(fired).toMatchObject({ last_result: 'started', last_fired_at: new Date(at).toISOString() });
    await api(nodeB.url, 'DELETE', `/schedules/${s.schedule_id}`);
  });
});
