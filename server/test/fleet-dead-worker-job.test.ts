/**
 * A worker that dies between taking a run's job and claiming the run (found by the fault run: a worker
 * killed while a run of a concurrency-1 tool waited its turn). Its job stayed taken until BullMQ's own
 * lock and stall check (30 s each) gave it up, up to a minute and a half, and every later run of the
 * tool waited behind it (the oldest goes first). A job held by a dead worker is given back within a
 * lease or two (FLEET_LEASE_S): the test holds the tool's claim lock so that the worker is caught
 * exactly there, kills it, and lets another worker take the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

const LEASE_S = 3;
let base: FleetBase<null>;
let catalogFile: string;
const servers: TestServer[] = [];

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: String(LEASE_S) }, { redis: 'machine' });
  catalogFile = writeCatalog(tempDir(), 'tools:\n  - name: one\n    concurrency: 1\n    cmd: ["echo", "ran"]\n');
}, 30_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await base?.close();
});

const start = async (worker: boolean) => {
  const server = await startServer({ catalogFile, env: base.env, worker, built: true });
  servers.push(server);
  return server;
};

describe('a worker killed holding a job it has not claimed', () => {
  it('holds it no longer than a lease or two: another worker runs the run', async () => {
    const node = await start(false);
    const doomed = await start(true);
    // The claim of a run of `one` waits for this lock (fleetStore.ts): the worker is held with the job taken.
    await base.admin.query('BEGIN');
    await base.admin.query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext('tool:one'))", [base.schema]);
    const res = await api<RunEnvelope>(node.url, 'POST', '/set/one', {});
    expect(res.status).toBe(200);
    await waitFor('the worker to wait for the claim lock', async () => {
      const { rows } = await base.admin.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'advisory'");
      return (rows[0]?.n ?? 0) > 0;
    });
    await doomed.crash();
    await base.admin.query('COMMIT');

    await start(true);
    const runId = res.body.run.run_id;
    const ended = await waitFor(
      'another worker to run it',
      async () => {
        const run = (await api<RunEnvelope>(node.url, 'GET', `/runs/${runId}`)).body.run;
        return run.status === 'queued' || run.status === 'running' ? undefined : run;
      },
      8 * LEASE_S * 1000,
    );
    expect(ended).toMatchObject<Partial<Run>>({ status: 'succeeded', exit_code: 0 });
  }, 60_000);
});
