import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../../shared/src/schemas/error';
import type { Health } from '../../shared/src/schemas/health';
import type { Run, RunEnvelope, RunList } from '../../shared/src/schemas/run';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, runToEnd as runToEndOn, fetchAuthed, startServer, waitFor, type TestServer } from './harness';
import path from 'node:path';
import { ROOT } from './harness';

let server: TestServer;
const CATALOG = path.join(ROOT, 'server/test/fixtures/catalog.yaml');

beforeAll(async () => {
  server = await startServer({ catalogFile: CATALOG, env: { SECRET_TOKEN: 'do-not-leak-4c1e', AUTH_JWT_SECRET: 'x'.repeat(40) } });
});
afterAll(() => server.stop());

const runToEnd = async (name: string): Promise<Run> => (await runToEndOn(server.url, name)).run;

describe('the seed API', () => {
  it('answers /health with run counts', async () => {
    const { status, body } = await api<Health>(server.url, 'GET', '/health');
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ok', app_name: 'OSS Runner', process_isolation: 'pid-namespace' });
    expect(Object.keys(body.runs ?? {}).sort()).toEqual(['failed', 'lost', 'queued', 'running', 'stopped', 'succeeded', 'timed_out', 'total']);
    expect(Object.values(body.runs ?? { none: NaN }).every((n) => Number.isInteger(n))).toBe(true);
  });

  it('lists the catalog with availability', async () => {
    const { body } = await api<ToolList>(server.url, 'GET', '/opensource-list');
    const hello = body.items.find((t) => t.name === 'hello');
    expect(hello).toMatchObject({ description: 'says hello', cmd: ['bash', '-c', "echo 'Hello OSS Runner'"], available: true, unavailable_reason: null });
    const missing = body.items.find((t) => t.name === 'missing');
    expect(missing?.available).toBe(false);
    expect(missing?.unavailable_reason).toContain('oss-runner-no-such-program');
    expect(missing?.unavailable_reason).toContain('it never will be');
  });

  it('starts a run with a body-less POST, as `curl -X POST` sends it, and records it to the end', async () => {
    const res = await fetchAuthed(`${server.url}/set/hello`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { run } = (await res.json()) as RunEnvelope;
    expect(run).toMatchObject({ name: 'hello', cmd: ['bash', '-c', "echo 'Hello OSS Runner'"], params: {} });
    expect(['running', 'succeeded']).toContain(run.status);
    const done = await waitFor('hello to finish', async () => {
      const { body } = await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`);
      return body.run.status === 'succeeded' ? body.run : undefined;
    });
    expect(done).toMatchObject({ exit_code: 0, signal: null, end_reason: 'exit', log_bytes: 17 });
    expect(Date.parse(done.started_at ?? '')).toBeGreaterThanOrEqual(Date.parse(done.created_at));
    expect(Date.parse(done.finished_at ?? '')).toBeGreaterThanOrEqual(Date.parse(done.started_at ?? ''));
    const raw = await fetchAuthed(`${server.url}/runs/${run.run_id}/log`);
    expect(raw.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await raw.text()).toBe('Hello OSS Runner\n');
  });

  it('accepts a JSON body with empty params', async () => {
    const { status, body } = await api<RunEnvelope>(server.url, 'POST', '/set/hello', { params: {} });
    expect(status).toBe(200);
    expect(body.run.name).toBe('hello');
  });

  it('records a non-zero exit as failed', async () => {
    const run = await runToEnd('fail');
    expect(run).toMatchObject({ status: 'failed', exit_code: 3, end_reason: 'exit' });
  });

  it('serves the raw log with ranges', async () => {
    const run = await runToEnd('hello');
    const res = await fetchAuthed(`${server.url}/runs/${run.run_id}/log`, { headers: { Range: 'bytes=6-8' } });
    expect(res.status).toBe(206);
    expect(await res.text()).toBe('OSS');
  });

  it('keeps stdout and stderr in the order they were written, in one log', async () => {
    const run = await runToEnd('interleave');
    const text = await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text();
    const expected = Array.from({ length: 500 }, (_, i) => `out${i + 1}\nerr${i + 1}\n`).join('');
    expect(text).toBe(expected);
  });

  it('gives tools only the allowlisted environment', async () => {
    const run = await runToEnd('env');
    const text = await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text();
    expect(text).toMatch(/^PATH=/m);
    expect(text).not.toContain('do-not-leak-4c1e');
    expect(text).not.toContain('SECRET_TOKEN');
    expect(text).not.toContain('AUTH_JWT_SECRET');
    expect(text).not.toContain('LOG_DIR');
  });

  it('gives a variable a catalog entry names (its env) to that tool alone', async () => {
    const logOf = async (run: Run) => (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text();
    const own = await logOf(await runToEnd('env-with-token'));
    expect(own).toMatch(/^SECRET_TOKEN=do-not-leak-4c1e$/m);
    expect(own).toMatch(/^TOOL_SETTING=quiet=1$/m); // its set_env
    const other = await logOf(await runToEnd('env'));
    expect(other).not.toContain('SECRET_TOKEN');
    expect(other).not.toContain('TOOL_SETTING');
  });

  it('runs each tool in a fresh working directory under LOG_DIR', async () => {
    const a = await runToEnd('pwd');
    const b = await runToEnd('pwd');
    const dirOf = async (run: Run) => (await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text()).trim();
    expect(await dirOf(a)).toBe(path.join(server.logDir, 'work', a.run_id));
    expect(await dirOf(b)).toBe(path.join(server.logDir, 'work', b.run_id));
  });
});

describe('Idempotency-Key', () => {
  it('answers the same run to the same key from the same caller, and only one run is made', async () => {
    const key = { 'Idempotency-Key': `retry-${Date.now()}` };
    const before = (await api<Health>(server.url, 'GET', '/health')).body.runs?.total ?? NaN;
    const [a, b] = await Promise.all([api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, key), api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, key)]);
    const c = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, key);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    expect(new Set([a.body.run.run_id, b.body.run.run_id, c.body.run.run_id]).size).toBe(1);
    expect((await api<Health>(server.url, 'GET', '/health')).body.runs?.total).toBe(before + 1);

    const other = await api<ApiError>(server.url, 'POST', '/set/fail', undefined, key);
    expect(other.status).toBe(409);
    expect(other.body.message).toMatch(/^Idempotency-Key: /);
    const fresh = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, { 'Idempotency-Key': `${key['Idempotency-Key']}-2` });
    expect(fresh.body.run.run_id).not.toBe(a.body.run.run_id);
  });

  it('refuses a malformed key, naming the header', async () => {
    for (const bad of ['has space', 'x'.repeat(201)]) {
      const res = await api<ApiError>(server.url, 'POST', '/set/hello', undefined, { 'Idempotency-Key': bad });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^Idempotency-Key: /);
    }
  });
});

describe('listing runs', () => {
  it('lists newest first, filters by status and name, and pages with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await runToEnd('hello')).run_id);
    await runToEnd('fail');

    const first = await api<RunList>(server.url, 'GET', '/runs?name=hello&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((r) => r.run_id)).toEqual([ids[4], ids[3]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api<RunList>(server.url, 'GET', `/runs?name=hello&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.items.map((r) => r.run_id)).toEqual([ids[2], ids[1]]);

    const all = await api<RunList>(server.url, 'GET', '/runs?limit=500');
    const created = all.body.items.map((r) => r.created_at);
    expect([...created].sort().reverse()).toEqual(created);

    const failed = await api<RunList>(server.url, 'GET', '/runs?status=failed');
    expect(failed.body.items.length).toBeGreaterThan(0);
    expect(failed.body.items.every((r) => r.status === 'failed')).toBe(true);

    const last = await api<RunList>(server.url, 'GET', `/runs?name=fail&limit=500`);
    expect(last.body.next_cursor).toBeNull();
  });
});

describe('errors', () => {
  const expectError = async (method: string, route: string, status: number, message: RegExp, body?: unknown, headers?: Record<string, string>) => {
    const res = await api<ApiError>(server.url, method, route, body, headers);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body.message).toMatch(message);
    return res.body;
  };

  it('404 for an unknown tool or run', async () => {
    await expectError('POST', '/set/no-such-tool', 404, /no-such-tool/);
    await expectError('GET', '/runs/no-such-run', 404, /no-such-run/);
    await expectError('POST', '/runs/no-such-run/stop', 404, /no-such-run/);
    const sse = await fetchAuthed(`${server.url}/runs/no-such-run/logs`);
    expect(sse.status).toBe(404);
    expect(((await sse.json()) as ApiError).message).toMatch(/no-such-run/);
    expect((await fetchAuthed(`${server.url}/runs/no-such-run/log`)).status).toBe(404);
  });

  it('409 for a tool whose program is not installed, and no run is left behind', async () => {
    const before = (await api<Health>(server.url, 'GET', '/health')).body.runs?.total;
    await expectError('POST', '/set/missing', 409, /not available.*oss-runner-no-such-program/);
    expect((await api<Health>(server.url, 'GET', '/health')).body.runs?.total).toBe(before);
  });

  it('409 when stopping a run that has ended', async () => {
    const run = await runToEnd('hello');
    await expectError('POST', `/runs/${run.run_id}/stop`, 409, /already ended/);
  });

  it('400 naming the field for bad input', async () => {
    await expectError('GET', '/runs?limit=abc', 400, /^limit: /);
    await expectError('GET', '/runs?limit=100000', 400, /^limit: /);
    await expectError('GET', '/runs?status=exploded', 400, /^status: /);
    await expectError('GET', '/runs?cursor=bogus', 400, /^cursor: /);
    await expectError('POST', '/set/hello', 400, /params\.target/, { params: { target: '/etc' } });
    await expectError('POST', '/set/hello', 400, /^extra: unknown field/, { extra: 1 });
    await expectError('POST', '/set/hello', 400, /^params: /, { params: 'not an object' });
    const sse = await fetchAuthed(`${server.url}/runs/x/logs?last_event_id=abc`);
    expect(sse.status).toBe(400);
    expect(((await sse.json()) as ApiError).message).toMatch(/^last_event_id: /);
  });

  it('400, not 500, for malformed JSON', async () => {
    await expectError('POST', '/set/hello', 400, /JSON/, '{"params": ', { 'content-type': 'application/json' });
  });

  it('415 for a body that is not JSON', async () => {
    await expectError('POST', '/set/hello', 415, /Content-Type/, 'params=1', { 'content-type': 'application/x-www-form-urlencoded' });
  });

  it('413 for a body past the limit', async () => {
    await expectError('POST', '/set/hello', 413, /larger than/, JSON.stringify({ params: { x: 'a'.repeat(2 * 1024 * 1024) } }));
  });
});

describe('documentation', () => {
  it('documents every REST path, the SSE route included', async () => {
    const { status, body } = await api<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(server.url, 'GET', '/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toMatch(/^3\./);
    for (const [p, method] of [
      ['/health', 'get'],
      ['/opensource-list', 'get'],
      ['/set/{name}', 'post'],
      ['/runs', 'get'],
      ['/runs/{run_id}', 'get'],
      ['/runs/{run_id}/stop', 'post'],
      ['/runs/{run_id}/logs', 'get'],
      ['/runs/{run_id}/log', 'get'],
    ] as const) {
      expect(body.paths[p]?.[method], `${method} ${p}`).toBeDefined();
    }
    expect(JSON.stringify(body.paths['/runs/{run_id}/logs'])).toContain('text/event-stream');
  });

  it('serves the interactive docs from local files', async () => {
    const page = await fetchAuthed(`${server.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const res = await fetchAuthed(`${server.url}${asset[1]}`);
      expect(res.status, asset[1]).toBe(200);
    }
  });

  it('sends / to the web app under /ui/', async () => {
    const res = await fetchAuthed(`${server.url}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/ui/');
  });
});
