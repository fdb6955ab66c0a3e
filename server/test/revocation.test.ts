/**
 * A credential that stops verifying (an API key revoked, its role lowered) loses its power on
 * connections already open: the next operation is refused, streams and subscriptions end, log tokens
 * issued to it stop working, all within AUTH_RECHECK_S (1 s here).
 */
import { once } from 'node:events';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditList, CreatedApiKey, LogToken } from '../../shared/src/schemas/auth';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import type { AppRouter } from '../src/routers';
import { api, readSse, ROOT, startServer, waitFor, type TestServer } from './harness';

const CATALOG = path.join(ROOT, 'server/test/fixtures/catalog.yaml');
/** AUTH_RECHECK_S is 1: everything must have happened well within 2 s. */
const WITHIN_MS = 2500;

let server: TestServer;
const started: string[] = [];

beforeAll(async () => {
  server = await startServer({ catalogFile: CATALOG, env: { AUTH_RECHECK_S: '1', AUTH_FAILURES_PER_MINUTE: '1000' } });
});

afterEach(async () => {
  for (const id of started.splice(0)) await api(server.url, 'POST', `/runs/${id}/stop`);
});

afterAll(async () => {
  await server.stop();
});

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

async function createKey(role: string): Promise<CreatedApiKey> {
  const res = await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: `${role} key`, role });
  expect(res.status).toBe(200);
  return res.body;
}

async function revoke(key: CreatedApiKey): Promise<number> {
  expect((await api(server.url, 'DELETE', `/api-keys/${key.api_key.id}`)).status).toBe(200);
  return Date.now();
}

/** A sleeper run (it runs until stopped), started with the admin key. */
async function sleeper(): Promise<string> {
  const res = await api<RunEnvelope>(server.url, 'POST', '/set/sleeper');
  expect(res.status).toBe(200);
  started.push(res.body.run.run_id);
  return res.body.run.run_id;
}

type Message = { id?: number; result?: { type?: string; data?: unknown }; error?: { data?: { code?: string; httpStatus?: number } } };

/** A raw tRPC WebSocket, to see each answer and the close code exactly as a client would. */
async function rawSocket(connectionToken: string) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/trpc?connectionParams=1`);
  const messages: Message[] = [];
  ws.addEventListener('message', (event) => {
    // tRPC's keep-alive: answer it, as its client does.
    if (event.data === 'PING') ws.send('PONG');
    else messages.push(JSON.parse(String(event.data)) as Message);
  });
  // Still open after 6 s counts as code 0, so that a socket that stays open fails fast.
  const closed = new Promise<{ code: number; at: number }>((resolve) => {
    ws.addEventListener('close', (event) => resolve({ code: event.code, at: Date.now() }), { once: true });
    setTimeout(() => resolve({ code: 0, at: Date.now() }), 6000).unref();
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ method: 'connectionParams', data: { token: connectionToken } }));
  let nextId = 1;
  /** Sends one operation and answers its first reply. */
  const send = async (method: 'query' | 'mutation' | 'subscription', procedure: string, input: unknown): Promise<Message> => {
    const id = nextId++;
    ws.send(JSON.stringify({ id, method, params: { path: procedure, input } }));
    return waitFor(`an answer to ${procedure}`, () => messages.find((m) => m.id === id));
  };
  return { ws, messages, closed, send };
}

const codeOf = (m: Message) => m.error?.data?.code;

describe('a WebSocket opened with an API key', () => {
  it('is refused its next start once the key is revoked (401), and closed with 4401', async () => {
    const operator = await createKey('operator');
    const { send, closed } = await rawSocket(operator.key);
    const first = await send('mutation', 'runs.start', { name: 'sleeper' });
    const runId = (first.result?.data as RunEnvelope | undefined)?.run.run_id;
    expect(runId, JSON.stringify(first)).toBeDefined();
    if (runId) started.push(runId);

    const revokedAt = await revoke(operator);
    const second = await send('mutation', 'runs.start', { name: 'sleeper' }).catch(() => undefined);
    if (second) expect(codeOf(second)).toBe('UNAUTHORIZED');
    const { code, at } = await closed;
    expect(code).toBe(4401);
    expect(at - revokedAt).toBeLessThan(WITHIN_MS);

    // The refusal is in the audit log, under the key that was refused.
    const audit = await api<AuditList>(server.url, 'GET', '/audit?action=runs.start&outcome=denied&limit=50');
    expect(audit.body.items.some((r) => r.actor === `key:${operator.api_key.id}`)).toBe(true);
  });

  it('is refused a stop once the key is revoked', async () => {
    const operator = await createKey('operator');
    const runId = await sleeper();
    const { send, closed } = await rawSocket(operator.key);
    expect(codeOf(await send('query', 'runs.get', { run_id: runId }))).toBeUndefined();
    await revoke(operator);
    const stop = await send('mutation', 'runs.stop', { run_id: runId }).catch(() => undefined);
    if (stop) expect(codeOf(stop)).toBe('UNAUTHORIZED');
    expect((await closed).code).toBe(4401);
    expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`)).body.run.status).toBe('running');
  });

  it('ends its subscriptions within AUTH_RECHECK_S of the revocation', async () => {
    const viewer = await createKey('viewer');
    const runId = await sleeper();
    const { send, closed, messages } = await rawSocket(viewer.key);
    const first = await send('subscription', 'runs.logs', { run_id: runId });
    expect(codeOf(first)).toBeUndefined();
    await waitFor('the first log line', () => JSON.stringify(messages).includes('started'));
    const revokedAt = await revoke(viewer);
    const { code, at } = await closed;
    expect(code).toBe(4401);
    expect(at - revokedAt).toBeLessThan(WITHIN_MS);
  });

  it('uses the role the key has now: a key lowered to viewer can no longer start, without a reconnection', async () => {
    const operator = await createKey('operator');
    const { send, ws } = await rawSocket(operator.key);
    try {
      const first = await send('mutation', 'runs.start', { name: 'sleeper' });
      const runId = (first.result?.data as RunEnvelope | undefined)?.run.run_id;
      if (runId) started.push(runId);
      expect(runId).toBeDefined();
      // No API lowers a role; an operator editing the database (or another node's admin tool) can.
      const db = new Database(path.join(server.logDir, 'oss-runner.db'));
      db.prepare('UPDATE api_keys SET role = ? WHERE id = ?').run('viewer', operator.api_key.id);
      db.close();
      const loweredAt = Date.now();
      await waitFor(
        'a refused start',
        async () => {
          const answer = await send('mutation', 'runs.start', { name: 'sleeper' });
          const id = (answer.result?.data as RunEnvelope | undefined)?.run.run_id;
          if (id) started.push(id);
          return codeOf(answer) === 'FORBIDDEN' || undefined;
        },
        WITHIN_MS,
      );
      expect(Date.now() - loweredAt).toBeLessThan(WITHIN_MS);
      // Still a viewer: reads go on, on the same connection.
      expect(codeOf(await send('query', 'runs.list', {}))).toBeUndefined();
    } finally {
      ws.close();
    }
  });
});

describe('streams opened with an API key', () => {
  it('SSE: the log stream of a running run ends within AUTH_RECHECK_S of the revocation', async () => {
    const viewer = await createKey('viewer');
    const runId = await sleeper();
    let revokedAt = 0;
    const reading = readSse(`${server.url}/runs/${runId}/logs`, bearer(viewer.key), () => {
      if (!revokedAt) void revoke(viewer).then((at) => (revokedAt = at));
    });
    const timeout = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 6000).unref());
    const outcome = await Promise.race([reading.then(() => 'ended' as const), timeout]);
    expect(outcome).toBe('ended');
    expect(Date.now() - revokedAt).toBeLessThan(WITHIN_MS + 500);
    expect((await readSse(`${server.url}/runs/${runId}/logs`, bearer(viewer.key))).status).toBe(401);
  });

  it("tRPC's own SSE transport: the subscription ends with a 401", async () => {
    const viewer = await createKey('viewer');
    const runId = await sleeper();
    const headers = bearer(viewer.key);
    const authedFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } });
    const client = createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === 'subscription',
          true: httpSubscriptionLink({ url: `${server.url}/trpc`, EventSource, eventSourceOptions: { fetch: authedFetch } }),
          false: httpBatchLink({ url: `${server.url}/trpc`, headers }),
        }),
      ],
    });
    let revokedAt = 0;
    const ended = new Promise<string>((resolve) => {
      const sub = client.runs.logs.subscribe(
        { run_id: runId },
        {
          onData: () => {
            if (!revokedAt) void revoke(viewer).then((at) => (revokedAt = at));
          },
          onError: (e) => resolve((e as { data?: { code?: string } }).data?.code ?? e.message),
          onComplete: () => resolve('complete'),
        },
      );
      setTimeout(() => {
        sub.unsubscribe();
        resolve('still open');
      }, 6000).unref();
    });
    expect(await ended).toBe('UNAUTHORIZED');
    expect(Date.now() - revokedAt).toBeLessThan(WITHIN_MS + 500);
  });
});

describe('log tokens', () => {
  it('stop working once the key that asked for them is revoked', async () => {
    const viewer = await createKey('viewer');
    const runId = await sleeper();
    const { body: logToken } = await api<LogToken>(server.url, 'POST', `/runs/${runId}/log-token`, undefined, bearer(viewer.key));
    const raw = () => fetch(`${server.url}/runs/${runId}/log?access_token=${logToken.token}`).then((r) => r.status);
    expect(await raw()).toBe(200);
    const revokedAt = await revoke(viewer);
    await waitFor('the log token refused', async () => (await raw()) === 401 || undefined, WITHIN_MS);
    expect(Date.now() - revokedAt).toBeLessThan(WITHIN_MS);
    expect((await readSse(`${server.url}/runs/${runId}/logs?access_token=${logToken.token}`, { authorization: '' })).status).toBe(401);
  });

  it('end the SSE stream they opened once that key is revoked', async () => {
    const viewer = await createKey('viewer');
    const runId = await sleeper();
    const { body: logToken } = await api<LogToken>(server.url, 'POST', `/runs/${runId}/log-token`, undefined, bearer(viewer.key));
    let revokedAt = 0;
    const reading = readSse(`${server.url}/runs/${runId}/logs?access_token=${logToken.token}`, { authorization: '' }, () => {
      if (!revokedAt) void revoke(viewer).then((at) => (revokedAt = at));
    });
    const timeout = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 6000).unref());
    expect(await Promise.race([reading.then(() => 'ended' as const), timeout])).toBe('ended');
    expect(Date.now() - revokedAt).toBeLessThan(WITHIN_MS + 500);
  });

  it('issued to ADMIN_API_KEY keep working (nothing there to revoke)', async () => {
    const runId = await sleeper();
    const { body: logToken } = await api<LogToken>(server.url, 'POST', `/runs/${runId}/log-token`);
    expect((await fetch(`${server.url}/runs/${runId}/log?access_token=${logToken.token}`)).status).toBe(200);
  });
});
