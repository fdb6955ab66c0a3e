import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKey, AuditList, CreatedApiKey, LogToken, WhoAmI } from '../../shared/src/schemas/auth';
import type { Health } from '../../shared/src/schemas/health';
import type { RunEnvelope, RunList } from '../../shared/src/schemas/run';
import type { AppRouter } from '../src/routers';
import { api, fetchAuthed, processesWith, readSse, ROOT, startServer, tempDir, waitFor, type TestServer } from './harness';

const CATALOG = path.join(ROOT, 'server/test/fixtures/catalog.yaml');
const SECRET = 'hs256-test-secret-that-is-long-enough-0123456789';
const ISSUER = 'https://idp.test';
const AUDIENCE = 'oss-runner';

let server: TestServer;
let jwks: http.Server;
const jwksKeys: JWK[] = [];
const signers: Record<string, { key: CryptoKey; kid: string; publicPem: string }> = {};
/** Every credential a test used: none may appear in the server's output or database. */
const usedSecrets: string[] = [];

const now = () => Math.floor(Date.now() / 1000);

async function addSigner(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  jwksKeys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
  signers[kid] = { key: privateKey, kid, publicPem: await exportSPKI(publicKey) };
}

async function token(claims: Record<string, unknown>, opts: { alg?: string; kid?: string; secret?: string | Uint8Array; exp?: number | null; iss?: string; aud?: string } = {}) {
  const alg = opts.alg ?? 'HS256';
  const jwt = new SignJWT({ role: 'operator', ...claims }).setProtectedHeader({ alg, ...(opts.kid ? { kid: opts.kid } : {}) }).setIssuedAt().setIssuer(opts.iss ?? ISSUER).setAudience(opts.aud ?? AUDIENCE).setSubject(typeof claims.sub === 'string' ? claims.sub : 'alice');
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now() + 600);
  const key = alg === 'HS256' ? (typeof opts.secret === 'string' || opts.secret === undefined ? new TextEncoder().encode(opts.secret ?? SECRET) : opts.secret) : signers[opts.kid ?? '']?.key;
  if (!key) throw new Error('no key');
  const signed = await jwt.sign(key);
  usedSecrets.push(signed);
  return signed;
}

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

beforeAll(async () => {
  await addSigner('RS256', 'rsa-1');
  await addSigner('ES256', 'ec-1');
  await addSigner('EdDSA', 'ed-1');
  jwks = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: jwksKeys }));
  });
  jwks.listen(0, '127.0.0.1');
  await once(jwks, 'listening');
  server = await startServer({
    catalogFile: CATALOG,
    env: {
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      AUTH_JWKS_COOLDOWN_S: '0',
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
      AUTH_FAILURES_PER_MINUTE: '1000',
    },
  });
  usedSecrets.push(server.adminKey);
});

afterAll(async () => {
  await server.stop();
  jwks.close();
});

async function createKey(role: string, name = `${role} key`): Promise<CreatedApiKey> {
  const res = await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name, role });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  usedSecrets.push(res.body.key);
  return res.body;
}

describe('who may do what', () => {
  it('leaves /health, /opensource-list, /openapi.json, /docs and the web app open', async () => {
    for (const route of ['/health', '/opensource-list', '/openapi.json', '/docs', '/docs/swagger-ui.css', '/me']) {
      const res = await fetch(server.url + route);
      expect(res.status, route).toBe(200);
    }
    expect((await fetch(`${server.url}/ui/`)).status).not.toBe(401);
  });

  it('answers 401 without a credential everywhere else, on every transport', async () => {
    const none = { authorization: '' };
    const run = (await api<RunEnvelope>(server.url, 'POST', '/set/hello')).body.run;
    for (const [method, route] of [
      ['GET', '/runs'],
      ['GET', `/runs/${run.run_id}`],
      ['POST', '/set/hello'],
      ['POST', `/runs/${run.run_id}/stop`],
      ['POST', `/runs/${run.run_id}/log-token`],
      ['GET', '/api-keys'],
      ['POST', '/api-keys'],
      ['DELETE', '/api-keys/abc'],
      ['GET', '/audit'],
      ['GET', `/runs/${run.run_id}/logs`],
      ['GET', `/runs/${run.run_id}/log`],
    ] as const) {
      const res = await api<{ message: string }>(server.url, method, route, undefined, none);
      expect(res.status, `${method} ${route}`).toBe(401);
      expect(res.body.message).toMatch(/credential/);
    }
    const trpc = await fetch(`${server.url}/trpc/runs.list`);
    expect(trpc.status).toBe(401);
  });

  it("refuses a viewer's start with 403: no run recorded, no process spawned", async () => {
    const viewer = await createKey('viewer');
    const before = (await api<Health>(server.url, 'GET', '/health')).body.runs?.total;
    const res = await api<{ message: string }>(server.url, 'POST', '/set/sleeper', undefined, bearer(viewer.key));
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/operator role.*viewer/);
    expect((await api<Health>(server.url, 'GET', '/health')).body.runs?.total).toBe(before);
    expect(processesWith('oss-test-sleeper', server.logDir)).toEqual([]);
    // ...while reading is fine
    expect((await api<RunList>(server.url, 'GET', '/runs', undefined, bearer(viewer.key))).status).toBe(200);
  });

  it("refuses a viewer's stop: the run goes on", async () => {
    const viewer = await createKey('viewer');
    const run = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;
    const res = await api(server.url, 'POST', `/runs/${run.run_id}/stop`, undefined, { 'x-api-key': viewer.key });
    expect(res.status).toBe(403);
    expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.status).toBe('running');
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
  });

  it('keeps Idempotency-Keys apart per credential', async () => {
    const a = await createKey('operator', 'idem a');
    const b = await createKey('operator', 'idem b');
    const key = { 'Idempotency-Key': 'shared-key-1' };
    const first = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, { ...bearer(a.key), ...key });
    const again = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, { ...bearer(a.key), ...key });
    const other = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, { ...bearer(b.key), ...key });
    expect(again.body.run.run_id).toBe(first.body.run.run_id);
    expect(other.body.run.run_id).not.toBe(first.body.run.run_id);
    expect(other.body.run.requested_by).toBe(`key:${b.api_key.id}`);
  });

  it("lets an operator start and stop, recording who did", async () => {
    const operator = await createKey('operator');
    const started = await api<RunEnvelope>(server.url, 'POST', '/set/sleeper', undefined, bearer(operator.key));
    expect(started.status).toBe(200);
    expect(started.body.run.requested_by).toBe(`key:${operator.api_key.id}`);
    const stopped = await api<RunEnvelope>(server.url, 'POST', `/runs/${started.body.run.run_id}/stop`, undefined, { 'X-API-Key': operator.key });
    expect(stopped.body.run).toMatchObject({ status: 'stopped', stopped_by: `key:${operator.api_key.id}` });
    const denied = await api(server.url, 'GET', '/api-keys', undefined, bearer(operator.key));
    expect(denied.status).toBe(403);
  });
});

describe('JWTs', () => {
  const status = async (jwt: string, route = '/runs') => (await api(server.url, 'GET', route, undefined, bearer(jwt))).status;

  it('accepts HS256 with the configured secret, and RS256, ES256 and EdDSA from the JWKS', async () => {
    expect(await status(await token({}))).toBe(200);
    expect(await status(await token({}, { alg: 'RS256', kid: 'rsa-1' }))).toBe(200);
    expect(await status(await token({}, { alg: 'ES256', kid: 'ec-1' }))).toBe(200);
    expect(await status(await token({}, { alg: 'EdDSA', kid: 'ed-1' }))).toBe(200);
    const me = await api<WhoAmI>(server.url, 'GET', '/me', undefined, bearer(await token({ sub: 'bob', role: undefined, roles: ['viewer', 'operator'] })));
    expect(me.body).toMatchObject({ id: 'jwt:bob', role: 'operator' });
  });

  it('fetches the JWKS again for an unknown kid (key rotation)', async () => {
    await addSigner('ES256', 'ec-rotated');
    expect(await status(await token({}, { alg: 'ES256', kid: 'ec-rotated' }))).toBe(200);
  });

  it('refuses alg none, a wrong signature, a public key used as an HMAC secret, no exp, an expired exp', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'eve', role: 'admin', iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.`;
    usedSecrets.push(none);
    expect(await status(none)).toBe(401);
    expect(await status(await token({}, { secret: 'another-secret-that-is-also-long-enough!!' }))).toBe(401);
    const pem = signers['rsa-1']?.publicPem ?? '';
    expect(await status(await token({ role: 'admin' }, { secret: pem, kid: 'rsa-1' }))).toBe(401);
    expect(await status(await token({}, { exp: null }))).toBe(401);
    expect(await status(await token({}, { exp: now() - 3600 }))).toBe(401);
    const expired = await api<{ message: string }>(server.url, 'GET', '/runs', undefined, bearer(await token({}, { exp: now() - 3600 })));
    expect(expired.body.message).toMatch(/expired/);
  });

  it('checks iss, aud and nbf, with a small clock tolerance', async () => {
    expect(await status(await token({}, { iss: 'https://evil.test' }))).toBe(401);
    expect(await status(await token({}, { aud: 'someone-else' }))).toBe(401);
    expect(await status(await token({ nbf: now() + 600 }))).toBe(401);
    expect(await status(await token({}, { exp: now() - 2 }))).toBe(200); // within the 5 s tolerance
  });

  it('gives a token without a known role nothing but 403', async () => {
    expect(await status(await token({ role: 'superuser' }))).toBe(403);
  });
});

describe('API keys', () => {
  it('are created once, used with both headers, listed without secrets, and refused right after revocation', async () => {
    const created = await createKey('viewer', 'dashboard');
    expect(created.key).toMatch(/^osr_[0-9a-f]{12}_/);
    expect(created.api_key).toMatchObject({ name: 'dashboard', role: 'viewer', revoked_at: null });
    expect((await api(server.url, 'GET', '/runs', undefined, bearer(created.key))).status).toBe(200);
    expect((await api(server.url, 'GET', '/runs', undefined, { 'X-API-Key': created.key })).status).toBe(200);

    const list = await api<{ items: ApiKey[] }>(server.url, 'GET', '/api-keys');
    const listed = list.body.items.find((k) => k.id === created.api_key.id);
    expect(listed).toMatchObject({ name: 'dashboard', role: 'viewer' });
    expect(listed?.last_used_at).not.toBeNull();
    expect(JSON.stringify(list.body)).not.toContain(created.key.slice(18));
    expect(Object.keys(listed ?? {})).not.toContain('hash');

    const revoked = await api<ApiKey>(server.url, 'DELETE', `/api-keys/${created.api_key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect((await api(server.url, 'GET', '/runs', undefined, bearer(created.key))).status).toBe(401);
    expect((await api(server.url, 'DELETE', `/api-keys/${created.api_key.id}`)).status).toBe(404);
  });

  it('refuse bad input naming the field', async () => {
    const res = await api<{ message: string }>(server.url, 'POST', '/api-keys', { name: 'x', role: 'root' });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^role: /);
    const tampered = await createKey('admin');
    const wrong = tampered.key.slice(0, -2) + (tampered.key.endsWith('AA') ? 'BB' : 'AA');
    expect((await api(server.url, 'GET', '/runs', undefined, bearer(wrong))).status).toBe(401);
  });
});

describe('the WebSocket', () => {
  const wsClientFor = (tokenValue?: string) => {
    const wsClient = createWSClient({
      url: `${server.url.replace('http', 'ws')}/trpc`,
      ...(tokenValue ? { connectionParams: { token: tokenValue } } : {}),
      retryDelayMs: () => 60_000,
    });
    return { client: createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] }), close: () => wsClient.close() };
  };

  it('without a token: public procedures only', async () => {
    const { client, close } = wsClientFor();
    try {
      expect((await client.catalog.list.query()).items.length).toBeGreaterThan(0);
      await expect(client.runs.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    } finally {
      await close();
    }
  });

  it('with a viewer token: reads, but a start is refused and nothing runs', async () => {
    const viewer = await createKey('viewer');
    const { client, close } = wsClientFor(viewer.key);
    try {
      const before = (await client.health.get.query()).runs?.total;
      expect((await client.runs.list.query({})).items).toBeDefined();
      await expect(client.runs.start.mutate({ name: 'sleeper' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
      expect((await client.health.get.query()).runs?.total).toBe(before);
      expect(processesWith('oss-test-sleeper', server.logDir)).toEqual([]);
    } finally {
      await close();
    }
  });

  /** A raw tRPC WebSocket, to watch exactly how the server treats it. */
  async function rawSocket(connectionToken: string) {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/trpc?connectionParams=1`);
    const messages: unknown[] = [];
    ws.addEventListener('message', (event) => messages.push(JSON.parse(String(event.data))));
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (event) => resolve(event.code), { once: true }));
    await once(ws, 'open');
    ws.send(JSON.stringify({ method: 'connectionParams', data: { token: connectionToken } }));
    return { ws, messages, closed };
  }

  it('refuses a connection whose token does not verify, before any operation: 401, then close code 4401', async () => {
    const { ws, closed, messages } = await rawSocket('osr_000000000000_not-a-real-key-at-all-not-a-real-key-at-all00');
    ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'runs.list', input: {} } }));
    expect(await closed).toBe(4401);
    expect(JSON.stringify(messages)).not.toContain('"items"');
    const errors = messages.map((m) => (m as { error?: { data?: { code?: string; httpStatus?: number } } }).error?.data);
    expect(errors).toContainEqual(expect.objectContaining({ code: 'UNAUTHORIZED', httpStatus: 401 }));
  });

  it('closes the connection when its JWT expires', async () => {
    // Valid for 2 s, plus the server's 5 s clock tolerance
    const shortLived = await token({ role: 'viewer' }, { exp: now() - 3 });
    const { ws, closed } = await rawSocket(shortLived);
    ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'runs.list', input: {} } }));
    const t0 = Date.now();
    expect(await closed).toBe(4401);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('keeps a connection whose JWT expires far ahead, past the longest timer Node has (~24.8 days)', async () => {
    const { ws, closed, messages } = await rawSocket(await token({ role: 'viewer' }, { exp: now() + 40 * 86_400 }));
    ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'runs.list', input: {} } }));
    await waitFor('the answer', () => (JSON.stringify(messages).includes('"items"') ? true : undefined));
    const early = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('open'), 1000))]);
    expect(early).toBe('open');
    ws.close();
  });

  it('answers who a JWT is for whatever its exp, even 1e300 (shown as the end of the year 9999)', async () => {
    const farOff = await token({ role: 'viewer' }, { exp: 1e300 });
    const me = await api<WhoAmI>(server.url, 'GET', '/me', undefined, bearer(farOff));
    expect(me.status).toBe(200);
    expect(me.body.expires_at).toBe('9999-12-31T23:59:59.999Z');
  });

  it('refuses an upgrade from a foreign Origin, accepts the server’s own', async () => {
    /** The status a WebSocket upgrade request from this Origin gets: 101 when it is switched. */
    const upgradeStatus = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get(`${server.url}/trpc`, {
          headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: origin },
        });
        req.once('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.once('upgrade', (res, socket) => (socket.destroy(), resolve(res.statusCode ?? 0)));
        req.once('error', reject);
      });
    expect(await upgradeStatus('https://evil.example')).toBe(403);
    expect(await upgradeStatus(server.url)).toBe(101);
    // The same host under another scheme is another origin (this server is plain http, with no proxy it trusts).
    expect(await upgradeStatus(server.url.replace('http:', 'https:'))).toBe(403);
  });
});

describe('SSE and the raw log', () => {
  it('take a header from curl, and a run-bound token (never a long-lived key) from EventSource', async () => {
    const run = (await api<RunEnvelope>(server.url, 'POST', '/set/hello')).body.run;
    const other = (await api<RunEnvelope>(server.url, 'POST', '/set/hello')).body.run;
    const viewer = await createKey('viewer');
    expect((await readSse(`${server.url}/runs/${run.run_id}/logs`, bearer(viewer.key))).status).toBe(200);
    expect((await readSse(`${server.url}/runs/${run.run_id}/logs`, { authorization: '' })).status).toBe(401);

    const { body: logToken } = await api<LogToken>(server.url, 'POST', `/runs/${run.run_id}/log-token`, undefined, bearer(viewer.key));
    usedSecrets.push(logToken.token);
    const withToken = await readSse(`${server.url}/runs/${run.run_id}/logs?access_token=${logToken.token}`, { authorization: '' });
    expect(withToken.status).toBe(200);
    expect(withToken.events.at(-1)?.event).toBe('end');
    expect((await fetchAuthed(`${server.url}/runs/${run.run_id}/log?access_token=${logToken.token}`, { headers: { authorization: '' } })).status).toBe(200);
    // ...for that run only, and for nothing else
    expect((await readSse(`${server.url}/runs/${other.run_id}/logs?access_token=${logToken.token}`, { authorization: '' })).status).toBe(401);
    expect((await api(server.url, 'GET', '/runs', undefined, bearer(logToken.token))).status).toBe(401);
    // a long-lived key in the URL is not accepted
    expect((await readSse(`${server.url}/runs/${run.run_id}/logs?access_token=${viewer.key}`, { authorization: '' })).status).toBe(401);
  });
});

describe('the audit log', () => {
  it('records starts, stops, key changes and refusals, for admins only', async () => {
    const viewer = await createKey('viewer');
    await api(server.url, 'POST', '/set/hello', undefined, bearer(viewer.key));
    const run = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    await api(server.url, 'DELETE', `/api-keys/${viewer.api_key.id}`);
    await api(server.url, 'GET', '/runs', undefined, bearer('osr_ffffffffffff_' + 'x'.repeat(43)));

    const { status, body } = await api<AuditList>(server.url, 'GET', '/audit?limit=500');
    expect(status).toBe(200);
    const has = (match: Partial<AuditList['items'][number]>) => body.items.some((r) => Object.entries(match).every(([k, v]) => r[k as keyof typeof r] === v));
    expect(has({ action: 'apiKeys.create', outcome: 'ok', actor: 'env:ADMIN_API_KEY' })).toBe(true);
    expect(has({ action: 'runs.start', outcome: 'denied', actor: `key:${viewer.api_key.id}` })).toBe(true);
    expect(has({ action: 'runs.start', outcome: 'ok', run_id: run.run_id })).toBe(true);
    expect(has({ action: 'runs.stop', outcome: 'ok', run_id: run.run_id })).toBe(true);
    expect(has({ action: 'apiKeys.revoke', outcome: 'ok' })).toBe(true);
    expect(has({ action: 'auth', outcome: 'denied', actor: null })).toBe(true);
    expect(body.items.every((r) => r.ip !== null)).toBe(true);
    const page = await api<AuditList>(server.url, 'GET', '/audit?limit=2');
    expect(page.body.next_cursor).not.toBeNull();
    const next = await api<AuditList>(server.url, 'GET', `/audit?limit=2&cursor=${page.body.next_cursor}`);
    expect(next.body.items[0]?.id).toBeLessThan(page.body.items[1]?.id ?? 0);
    expect((await api(server.url, 'GET', '/audit', undefined, bearer(viewer.key))).status).toBe(401);
  });

  it('keeps every key and token used out of the server output and the database', () => {
    expect(usedSecrets.length).toBeGreaterThan(10);
    const files = readdirSync(server.logDir).filter((f) => f.startsWith('oss-runner.db'));
    const stored = files.map((f) => readFileSync(path.join(server.logDir, f)).toString('latin1')).join('');
    for (const secret of usedSecrets) {
      expect(server.output()).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });
});

describe('safe by default', () => {
  it('creates an admin key on the very first start with nothing configured, prints it once, and it works', async () => {
    const logDir = tempDir();
    const first = await startServer({ catalogFile: CATALOG, logDir, env: { ADMIN_API_KEY: '' } });
    let key = '';
    try {
      key = /^\s+(osr_\S+)$/m.exec(first.output())?.[1] ?? '';
      expect(key).not.toBe('');
      expect(first.output()).toContain(`Authorization: Bearer ${key}`);
      expect((await api(first.url, 'GET', '/runs', undefined, bearer(key))).status).toBe(200);
      expect((await api(first.url, 'GET', '/runs', undefined, { authorization: '' })).status).toBe(401);
    } finally {
      await first.stop();
    }
    const second = await startServer({ catalogFile: CATALOG, logDir, env: { ADMIN_API_KEY: '' } });
    try {
      expect(second.output()).not.toContain('osr_');
      expect((await api(second.url, 'GET', '/api-keys', undefined, bearer(key))).status).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it('AUTH_DISABLED=true opens everything, with a warning', async () => {
    const open = await startServer({ catalogFile: CATALOG, env: { AUTH_DISABLED: 'true', ADMIN_API_KEY: '' } });
    try {
      expect(open.output()).toMatch(/"level":"warn"[^\n]*AUTH_DISABLED=true/);
      const res = await api<RunEnvelope>(open.url, 'POST', '/set/hello', undefined, { authorization: '' });
      expect(res.status).toBe(200);
      expect(res.body.run.requested_by).toBe('anonymous');
    } finally {
      await open.stop();
    }
  });
});

describe('abuse', () => {
  it('limits starts per credential and failed authentications per address, with Retry-After', async () => {
    const s = await startServer({ catalogFile: CATALOG, env: { START_RATE_PER_MINUTE: '2', AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      expect((await api(s.url, 'POST', '/set/hello')).status).toBe(200);
      expect((await api(s.url, 'POST', '/set/hello')).status).toBe(200);
      const third = await api<{ message: string }>(s.url, 'POST', '/set/hello');
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await api<Health>(s.url, 'GET', '/health')).body.runs?.total).toBe(2);

      for (let i = 0; i < 3; i++) expect((await api(s.url, 'GET', '/runs', undefined, bearer(`wrong-${i}`))).status).toBe(401);
      const blocked = await api(s.url, 'GET', '/runs', undefined, bearer('wrong-again'));
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // The address is refused as a whole for a while, a valid credential included: a guess that
      // succeeded would otherwise stand out among the 429s.
      expect((await api(s.url, 'GET', '/runs')).status).toBe(429);
    } finally {
      await s.stop();
    }
  });
});
