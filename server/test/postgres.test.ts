/**
 * The server on PostgreSQL (DATABASE_URL), against the PostgreSQL running on this machine: runs, API
 * keys, the audit log, Idempotency-Keys, crash recovery, paging and retention behave as on SQLite, and
 * nothing goes to a SQLite file. Each test server gets a schema of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/src/schemas/auth';
import type { Health, Readiness } from '../../shared/src/schemas/health';
import type { Run, RunEnvelope, RunList } from '../../shared/src/schemas/run';
import { schemaUrl, TEST_PG, testPgVia } from './fleetHarness';
import { api, runToEnd as runToEndOn, startServer, tempDir, waitFor } from './harness';
import { tcpRelay } from './tcpRelay';

const CATALOG = `
tools:
  - name: hello
    cmd: ["echo", "hello"]
  - name: sleeper
    cmd: ["bash", "-c", "echo started; exec sleep 600"]
  - name: pause
    cmd: ["bash", "-c", "echo started; sleep 2; echo done"]
`;

let admin: pg.Client;
const schemas: string[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
});
afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

/** A fresh schema, and the DATABASE_URL that puts a server in it. */
async function database(): Promise<{ url: string; schema: string }> {
  const schema = `osr_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  schemas.push(schema);
  return { url: schemaUrl(schema), schema };
}

const runToEnd = async (url: string, name: string): Promise<Run> => (await runToEndOn(url, name)).run;

describe('on PostgreSQL', () => {
  it('records runs, keys and the audit log there, and nothing in SQLite', async () => {
    const { url, schema } = await database();
    const server = await startServer({ catalog: CATALOG, env: { DATABASE_URL: url } });
    try {
      const run = await runToEnd(server.url, 'hello');
      expect(run).toMatchObject({ status: 'succeeded', exit_code: 0, log_bytes: 6, artifacts: [], limits: { sandbox: true } });
      expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run).toMatchObject({ status: 'succeeded', cmd: ['echo', 'hello'] });

      const sleeper = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;
      const stopped = await api<RunEnvelope>(server.url, 'POST', `/runs/${sleeper.run_id}/stop`);
      expect(stopped.body.run).toMatchObject({ status: 'stopped', stopped_by: 'env:ADMIN_API_KEY' });

      const created = await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: 'ci', role: 'viewer' });
      expect(created.status).toBe(200);
      expect((await api(server.url, 'GET', '/runs', undefined, { authorization: `Bearer ${created.body.key}` })).status).toBe(200);
      expect((await api(server.url, 'DELETE', `/api-keys/${created.body.api_key.id}`)).status).toBe(200);
      expect((await api(server.url, 'GET', '/runs', undefined, { authorization: `Bearer ${created.body.key}` })).status).toBe(401);
      const audit = await api<{ items: { action: string }[] }>(server.url, 'GET', '/audit');
      expect(audit.body.items.map((a) => a.action)).toEqual(expect.arrayContaining(['runs.start', 'runs.stop', 'apiKeys.create', 'apiKeys.revoke']));

      const { rows } = await admin.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${schema}.runs`);
      expect(rows[0]?.n).toBe(2);
      expect(existsSync(path.join(server.logDir, 'oss-runner.db'))).toBe(false);
    } finally {
      await server.stop();
    }
  });

  it('answers one run for two concurrent starts with the same Idempotency-Key', async () => {
    const { url } = await database();
    const server = await startServer({ catalog: CATALOG, env: { DATABASE_URL: url } });
    try {
      const headers = { 'idempotency-key': 'pg-key-1' };
      const [a, b] = await Promise.all([api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, headers), api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, headers)]);
      expect(a.body.run.run_id).toBe(b.body.run.run_id);
      expect((await api<RunList>(server.url, 'GET', '/runs')).body.items).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  it('pages 1,200 runs with cursors, and keeps the newest per tool under retention', async () => {
    const { url, schema } = await database();
    const logDir = tempDir();
    // The schema first (the server migrates it), then 1,200 finished runs written straight into it.
    const first = await startServer({ catalog: CATALOG, logDir, env: { DATABASE_URL: url } });
    await first.stop();
    await admin.query(
      `INSERT INTO ${schema}.runs (run_id, name, cmd, params, status, exit_code, created_at, started_at, finished_at, end_reason, log_bytes)
       SELECT 'seed-' || i, 'hello', '["echo"]', '{}', 'succeeded', 0, t, t, t, 'exit', 6
       FROM (SELECT i, to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t FROM generate_series(1, 1200) AS i) seeded`,
    );
    const server = await startServer({ catalog: CATALOG, logDir, env: { DATABASE_URL: url } });
    try {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: RunList = (await api<RunList>(server.url, 'GET', `/runs?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body;
        seen.push(...page.items.map((r) => r.run_id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen).toHaveLength(1200);
      expect(seen[0]).toBe('seed-1200');
      expect(new Set(seen).size).toBe(1200);
    } finally {
      await server.stop();
    }

    const keeping = await startServer({ catalog: CATALOG, logDir, env: { DATABASE_URL: url, RETENTION_KEEP_PER_TOOL: '5', RETENTION_INTERVAL_S: '0.5' } });
    try {
      await waitFor('retention', async () => ((await api<RunList>(keeping.url, 'GET', '/runs?limit=500')).body.items.length === 5 ? true : undefined));
      expect((await api<RunList>(keeping.url, 'GET', '/runs')).body.items.map((r) => r.run_id)).toEqual(['seed-1200', 'seed-1199', 'seed-1198', 'seed-1197', 'seed-1196']);
    } finally {
      await keeping.stop();
    }
  });

  it('marks a run that was going when the server died as lost at the next start', async () => {
    const { url } = await database();
    const logDir = tempDir();
    const server = await startServer({ catalog: CATALOG, logDir, env: { DATABASE_URL: url } });
    const sleeper = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;
    await server.crash();
    const next = await startServer({ catalog: CATALOG, logDir, env: { DATABASE_URL: url } });
    try {
      expect((await api<RunEnvelope>(next.url, 'GET', `/runs/${sleeper.run_id}`)).body.run).toMatchObject({ status: 'lost', end_reason: 'lost' });
    } finally {
      await next.stop();
    }
  });

  it('answers 503 while the database is away, records a run that ended meanwhile, and recovers when it returns', async () => {
    const { schema } = await database();
    const pgRelay = await tcpRelay(TEST_PG);
    const url = schemaUrl(schema, testPgVia(pgRelay.port));
    const server = await startServer({ catalog: CATALOG, env: { DATABASE_URL: url } });
    try {
      const run = (await api<RunEnvelope>(server.url, 'POST', '/set/pause')).body.run;
      await pgRelay.cut();
      const list = await api<{ message: string }>(server.url, 'GET', '/runs');
      expect(list.status).toBe(503);
      expect(list.body.message).toMatch(/database is unavailable/);
      expect(list.headers.get('retry-after')).toBe('5');
      const ready = await api<Readiness>(server.url, 'GET', '/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.database.ok).toBe(false);
      const health = await api<Health>(server.url, 'GET', '/health');
      expect(health.status).toBe(200); // liveness does not depend on the database
      expect(health.body.runs).toBeNull();
      // The run ends while the database is away, and says it will record its end later.
      await waitFor('the run to end during the outage', () => (/the database is unavailable: the run's state will be recorded/.test(server.output()) ? true : undefined), 15_000);

      await pgRelay.restore();
      const ended = await waitFor('the run to be recorded', async () => {
        const res = await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`);
        return res.status === 200 && res.body.run.status === 'succeeded' ? res.body.run : undefined;
      });
      expect(ended).toMatchObject({ exit_code: 0, log_bytes: 'started\ndone\n'.length });
      expect((await api(server.url, 'GET', '/ready')).status).toBe(200);
    } finally {
      await server.stop();
      await pgRelay.cut();
    }
  });
});
