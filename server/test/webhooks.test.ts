/**
 * Webhooks against a real receiving HTTP server this test starts: deliveries verified by the receiver
 * the way docs/notifications.md tells (Node's crypto, and a shell with openssl), retries after 500s
 * with growing gaps, a delivery pending when the server dies sent after its restart, the filters,
 * redelivery, and the address guard (loopback refused unless WEBHOOK_ALLOWED_NETWORKS allows it).
 */
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/src/schemas/run';
import type { CreatedWebhook, DeliveryList, WebhookDelivery, WebhookEndpoint } from '../../shared/src/schemas/webhook';
import { api, runToEnd, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

const CATALOG = `tools:
  - name: hello
    cmd: ["echo", "hello"]
  - name: fail
    cmd: ["bash", "-c", "echo failing; exit 3"]
  - name: scan
    description: a Trivy-style report with one vulnerability of the severity asked for
    cmd:
      - bash
      - -c
      - printf '{"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"%s","PkgName":"p","Severity":"%s"}]}]}' "$2" "$3" > "$1/report.json"; exit 1
      - scan
      - "{{artifacts}}"
      - "{{id}}"
      - "{{severity}}"
    params:
      id: { type: string, pattern: "^[A-Z0-9-]+$", required: true }
      severity: { type: enum, values: [LOW, HIGH, CRITICAL], required: true }
    artifacts: [{ name: report.json, report: trivy }]
    outcome: { success: [0], findings: [1] }
`;

/** Fast retries, so a test sees several attempts in a second or two. */
const FAST = { WEBHOOK_RETRY_BASE_S: '0.2', WEBHOOK_RETRY_MAX_INTERVAL_S: '5', WEBHOOK_POLL_S: '0.2', WEBHOOK_TIMEOUT_S: '2' };
const ALLOW_LOOPBACK = { WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128' };

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook receiver: records every request; `answers[path]` lists the statuses to give in turn (then 200; 0: no answer at all). */
async function startReceiver() {
  const received: Received[] = [];
  const answers = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() });
      const status = answers.get(path)?.shift() ?? 200;
      if (status === 0) return;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('thanks');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { port, url: (path: string) => `http://127.0.0.1:${port}${path}`, received, at: (path: string) => received.filter((r) => r.path === path), answers, close: () => new Promise((r) => server.close(r)) };
}

// ---- docs/notifications.md, "Verifying a delivery" (Node): kept word for word ----
function verifySignature(secret: string, header: string, rawBody: string, toleranceS = 300): boolean {
  const fields = new Map(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const t = Number(fields.get('t'));
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(fields.get('v1') ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
// ---- end of the documented code ----

/** docs/notifications.md, "Verifying a delivery" (shell): the HMAC as openssl computes it. */
function opensslHmac(secret: string, t: string, body: string): string {
  const script = `printf '%s.%s' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //'`;
  return execFileSync('sh', ['-c', script], { env: { PATH: process.env.PATH, T: t, BODY: body, SECRET: secret } }).toString().trim();
}

const create = async (base: string, body: unknown) => api<CreatedWebhook>(base, 'POST', '/webhooks', body);
const deliveriesOf = async (base: string, id: string) => (await api<DeliveryList>(base, 'GET', `/webhooks/${id}/deliveries`)).body.items;
/** Waits until the endpoint's deliveries satisfy `done`. */
const deliveriesUntil = (base: string, id: string, what: string, done: (items: WebhookDelivery[]) => boolean) =>
  waitFor(what, async () => {
    const items = await deliveriesOf(base, id);
    return done(items) ? items : undefined;
  });

let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());

describe('webhooks on a server that may reach loopback (WEBHOOK_ALLOWED_NETWORKS)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ catalog: CATALOG, env: { ...FAST, ...ALLOW_LOOPBACK, PUBLIC_URL: 'https://runner.example.com/oss' } });
  });
  afterAll(() => server.stop());

  let signed: { endpoint: WebhookEndpoint; secret: string; run: Run };

  it('delivers a run end, signed, and the receiver verifies it as the documentation shows (Node and openssl)', async () => {
    const created = await create(server.url, { url: receiver.url('/signed'), description: 'CI channel', filter: { tools: ['hello'] } });
    expect(created.status).toBe(200);
    const { endpoint, secret } = created.body;
    expect(secret).toMatch(/^whsec_[\w-]{43}$/);
    const { run } = await runToEnd(server.url, 'hello');
    const [got] = await waitFor('the delivery', () => (receiver.at('/signed').length ? receiver.at('/signed') : undefined));
    if (!got) throw new Error('no delivery');
    const header = String(got.headers['x-oss-runner-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, header, got.body)).toBe(true);
    expect(verifySignature(secret, header, got.body.replace('hello', 'hellO'))).toBe(false);
    expect(verifySignature('whsec_another', header, got.body)).toBe(false);
    const [, t = '', v1 = ''] = /^t=(\d+),v1=([0-9a-f]+)$/.exec(header) ?? [];
    expect(opensslHmac(secret, t, got.body)).toBe(v1);

    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-oss-runner-event']).toBe('run.ended');
    const body = JSON.parse(got.body) as { event: string; run: Run; summary: unknown; links: Record<string, string> };
    expect(body).toMatchObject({ event: 'run.ended', run: { run_id: run.run_id, name: 'hello', status: 'succeeded', exit_code: 0 }, summary: null });
    expect(body.links).toEqual({
      run: `https://runner.example.com/oss/ui/runs/${run.run_id}`,
      log: `https://runner.example.com/oss/runs/${run.run_id}/log`,
      api: `https://runner.example.com/oss/runs/${run.run_id}`,
    });
    const [delivery] = await deliveriesUntil(server.url, endpoint.id, 'delivered', (items) => items[0]?.state === 'delivered');
    expect(delivery).toMatchObject({ id: got.headers['x-oss-runner-delivery'], run_id: run.run_id, state: 'delivered', attempts: 1, response_status: 200, error: null, redelivery_of: null });
    console.log(`signed delivery verified by the receiver:\n  X-OSS-Runner-Signature: ${header}\n  body: ${got.body.slice(0, 160)}...`);
    signed = { endpoint, secret, run };
  });

  it('never shows the secret again: not in answers, not in the server log', async () => {
    const { endpoint, secret } = signed;
    const listed = await api<{ items: WebhookEndpoint[] }>(server.url, 'GET', '/webhooks');
    const one = await api<WebhookEndpoint>(server.url, 'GET', `/webhooks/${endpoint.id}`);
    const deliveries = await api(server.url, 'GET', `/webhooks/${endpoint.id}/deliveries`);
    const audit = await api(server.url, 'GET', '/audit');
    for (const answer of [listed, one, deliveries, audit]) expect(JSON.stringify(answer.body)).not.toContain(secret);
    expect(one.body).not.toHaveProperty('secret');
    expect(server.output()).not.toContain(secret);
    expect(server.output()).not.toContain(secret.slice(6, 20));
  });

  it('redelivers: the same body, as a new delivery with its own id', async () => {
    const { endpoint, secret } = signed;
    const [original] = await deliveriesOf(server.url, endpoint.id);
    if (!original) throw new Error('no delivery');
    const before = receiver.at('/signed').length;
    const again = await api<{ delivery: WebhookDelivery }>(server.url, 'POST', `/webhooks/${endpoint.id}/deliveries/${original.id}/redeliver`);
    expect(again.status).toBe(200);
    expect(again.body.delivery).toMatchObject({ redelivery_of: original.id, run_id: original.run_id });
    const got = await waitFor('the redelivery', () => receiver.at('/signed')[before]);
    expect(got.headers['x-oss-runner-delivery']).toBe(again.body.delivery.id);
    expect(got.body).toBe(receiver.at('/signed')[0]?.body);
    expect(verifySignature(secret, String(got.headers['x-oss-runner-signature']), got.body)).toBe(true);
    const items = await deliveriesUntil(server.url, endpoint.id, 'the redelivery delivered', (list) => list.length === 2 && list.every((d) => d.state === 'delivered'));
    expect(items.map((d) => d.id)).toEqual([again.body.delivery.id, original.id]);
    expect((await api(server.url, 'POST', `/webhooks/${endpoint.id}/deliveries/nope/redeliver`)).status).toBe(404);
  });

  it('tries again after 500s, each gap longer than the one before, and records each answer', async () => {
    receiver.answers.set('/flaky', [500, 500, 500]);
    const { body } = await create(server.url, { url: receiver.url('/flaky'), filter: { tools: ['fail'] } });
    const { run } = await runToEnd(server.url, 'fail');
    const hits = await waitFor('four attempts', () => (receiver.at('/flaky').length >= 4 ? receiver.at('/flaky') : undefined));
    const gaps = hits.slice(1).map((h, i) => h.at - (hits[i]?.at ?? 0));
    // 0.2 s, 0.4 s, 0.8 s (WEBHOOK_RETRY_BASE_S=0.2, doubling).
    expect(gaps[0]).toBeGreaterThanOrEqual(180);
    expect(gaps[1]).toBeGreaterThan((gaps[0] ?? 0) * 1.4);
    expect(gaps[2]).toBeGreaterThan((gaps[1] ?? 0) * 1.4);
    expect(new Set(hits.map((h) => h.headers['x-oss-runner-delivery'])).size).toBe(1);
    const [delivery] = await deliveriesUntil(server.url, body.endpoint.id, 'delivered', (items) => items[0]?.state === 'delivered');
    expect(delivery).toMatchObject({ run_id: run.run_id, attempts: 4, response_status: 200, error: null });
    console.log(`retries: gaps between attempts ${gaps.map((g) => `${Math.round(g)} ms`).join(', ')}`);
  });

  it('delivers only the runs its filter matches: tool, status, outcome, new findings at or above a severity', async () => {
    const severe = await create(server.url, { url: receiver.url('/severe'), format: 'json', filter: { tools: ['scan'], outcomes: ['findings'], new_findings_min_severity: 'high' } });
    const failed = await create(server.url, { url: receiver.url('/failed'), filter: { statuses: ['failed'] } });
    expect([severe.status, failed.status]).toEqual([200, 200]);
    const ran = {
      hello: (await runToEnd(server.url, 'hello')).run,
      low: (await runToEnd(server.url, 'scan', { id: 'CVE-1', severity: 'LOW' })).run,
      critical: (await runToEnd(server.url, 'scan', { id: 'CVE-2', severity: 'CRITICAL' })).run,
      // The same scan again: nothing new since the previous run.
      same: (await runToEnd(server.url, 'scan', { id: 'CVE-2', severity: 'CRITICAL' })).run,
      fail: (await runToEnd(server.url, 'fail')).run,
    };
    expect(ran.critical).toMatchObject({ outcome: 'findings', summary: { findings: { critical: 1 } } });
    expect(ran.same.summary?.new_since_previous).toMatchObject({ run_id: ran.critical.run_id, findings: { total: 0 } });
    // The last run's delivery is made; the ends before it have been heard by then.
    await deliveriesUntil(server.url, failed.body.endpoint.id, 'the failed run delivered', (items) => items.some((d) => d.run_id === ran.fail.run_id && d.state === 'delivered'));
    await new Promise((r) => setTimeout(r, 500));
    const runIds = (path: string) => receiver.at(path).map((r) => (JSON.parse(r.body) as { run: Run }).run.run_id);
    expect(runIds('/severe')).toEqual([ran.critical.run_id]);
    expect(runIds('/failed')).toEqual([ran.fail.run_id]);
    expect((await deliveriesOf(server.url, severe.body.endpoint.id)).map((d) => d.run_id)).toEqual([ran.critical.run_id]);
  });

  it('sends a Slack-compatible body when asked', async () => {
    const { body } = await create(server.url, { url: receiver.url('/slack'), format: 'slack', filter: { tools: ['scan'] } });
    const { run } = await runToEnd(server.url, 'scan', { id: 'CVE-3', severity: 'HIGH' });
    const got = await waitFor('the Slack delivery', () => receiver.at('/slack')[0]);
    const message = JSON.parse(got.body) as { text: string };
    expect(Object.keys(message)).toEqual(['text']);
    expect(message.text).toContain(`<https://runner.example.com/oss/ui/runs/${run.run_id}|scan> ended with findings (exit code 1)`);
    expect(message.text).toContain('findings: 1 high');
    expect(verifySignature(body.secret, String(got.headers['x-oss-runner-signature']), got.body)).toBe(true);
    // A rotated secret signs from then on; the old one no longer does.
    const rotated = await api<CreatedWebhook>(server.url, 'POST', `/webhooks/${body.endpoint.id}/secret`);
    expect(rotated.body.secret).not.toBe(body.secret);
    const redelivered = await api<{ delivery: WebhookDelivery }>(server.url, 'POST', `/webhooks/${body.endpoint.id}/deliveries/${got.headers['x-oss-runner-delivery'] as string}/redeliver`);
    const again = await waitFor('the redelivery', () => receiver.at('/slack').find((r) => r.headers['x-oss-runner-delivery'] === redelivered.body.delivery.id));
    expect(verifySignature(rotated.body.secret, String(again.headers['x-oss-runner-signature']), again.body)).toBe(true);
    expect(verifySignature(body.secret, String(again.headers['x-oss-runner-signature']), again.body)).toBe(false);
  });

  it('pauses (no delivery for runs that end meanwhile), resumes and deletes an endpoint', async () => {
    const { body } = await create(server.url, { url: receiver.url('/paused'), filter: { tools: ['hello'] } });
    const paused = await api<WebhookEndpoint>(server.url, 'PATCH', `/webhooks/${body.endpoint.id}`, { enabled: false, description: 'paused for a while' });
    expect(paused.body).toMatchObject({ id: body.endpoint.id, enabled: false, description: 'paused for a while', url: receiver.url('/paused') });
    await runToEnd(server.url, 'hello');
    // The run's end is heard a moment after it is recorded: resumed only after that.
    await new Promise((r) => setTimeout(r, 300));
    expect((await api(server.url, 'PATCH', `/webhooks/${body.endpoint.id}`, { enabled: true })).status).toBe(200);
    const { run } = await runToEnd(server.url, 'hello');
    await deliveriesUntil(server.url, body.endpoint.id, 'the run after resuming', (items) => items[0]?.state === 'delivered');
    expect((await deliveriesOf(server.url, body.endpoint.id)).map((d) => d.run_id)).toEqual([run.run_id]);
    expect(receiver.at('/paused')).toHaveLength(1);
    expect((await api(server.url, 'DELETE', `/webhooks/${body.endpoint.id}`)).status).toBe(200);
    expect((await api(server.url, 'GET', `/webhooks/${body.endpoint.id}/deliveries`)).status).toBe(404);
  });

  it('refuses bad input with a 400 naming the field, and needs the admin role', async () => {
    const bad = await create(server.url, { url: 'ftp://example.com/hook' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('url');
    const badFilter = await create(server.url, { url: receiver.url('/x'), filter: { statuses: ['done'] } });
    expect(badFilter.status).toBe(400);
    expect(JSON.stringify(badFilter.body)).toContain('filter.statuses');
    expect((await api(server.url, 'GET', '/webhooks', undefined, { authorization: '' })).status).toBe(401);
    expect((await api(server.url, 'GET', '/webhooks/wh_nope')).status).toBe(404);
  });
});

describe('the address guard, by default', () => {
  it('refuses loopback, private and link-local URLs, by address or by a name that resolves to one', async () => {
    const server = await startServer({ catalog: CATALOG, env: FAST });
    try {
      for (const url of [receiver.url('/x'), `http://localhost:${receiver.port}/x`, 'http://[::1]/x', 'http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/x', 'http://[::ffff:127.0.0.1]/x']) {
        const refused = await create(server.url, { url });
        expect(refused.status, url).toBe(400);
        expect((refused.body as unknown as { message: string }).message, url).toMatch(/^url: .*loopback, private or link-local/);
      }
    } finally {
      await server.stop();
    }
  });

  it('checks again when connecting: an endpoint saved while allowed is not reached once the setting is gone', async () => {
    const logDir = tempDir();
    const catalogFile = writeCatalog(logDir, CATALOG);
    let server = await startServer({ logDir, catalogFile, env: { ...FAST, ...ALLOW_LOOPBACK } });
    const { body } = await create(server.url, { url: receiver.url('/guarded'), filter: { tools: ['fail'] } });
    await server.stop();
    server = await startServer({ logDir, catalogFile, env: FAST });
    try {
      await runToEnd(server.url, 'fail');
      const [delivery] = await deliveriesUntil(server.url, body.endpoint.id, 'an attempt', (items) => (items[0]?.attempts ?? 0) >= 2);
      expect(delivery).toMatchObject({ state: 'pending', response_status: null });
      expect(delivery?.error).toMatch(/127\.0\.0\.1 is a loopback, private or link-local address: refused/);
      expect(receiver.at('/guarded')).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});

describe('deliveries across a restart', () => {
  it('sends after a restart a delivery still pending when the server died', async () => {
    const logDir = tempDir();
    const catalogFile = writeCatalog(logDir, CATALOG);
    // Slow retries: the second attempt is due only after the crash and the restart.
    const env = { ...ALLOW_LOOPBACK, WEBHOOK_RETRY_BASE_S: '4', WEBHOOK_POLL_S: '0.2' };
    let server = await startServer({ logDir, catalogFile, env });
    receiver.answers.set('/restart', [503]);
    const { body } = await create(server.url, { url: receiver.url('/restart'), filter: { tools: ['hello'] } });
    const { run } = await runToEnd(server.url, 'hello');
    await deliveriesUntil(server.url, body.endpoint.id, 'the first attempt', (items) => items[0]?.attempts === 1 && items[0].state === 'pending');
    await server.crash();
    server = await startServer({ logDir, catalogFile, env });
    try {
      const items = await deliveriesUntil(server.url, body.endpoint.id, 'the delivery after the restart', (list) => list[0]?.state === 'delivered');
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ run_id: run.run_id, attempts: 2, response_status: 200 });
      expect(receiver.at('/restart').map((r) => r.headers['x-oss-runner-delivery'])).toEqual([items[0]?.id, items[0]?.id]);
    } finally {
      await server.stop();
    }
  });

  it('cuts an attempt short at shutdown (the server stops at once) and makes it again at the next start', async () => {
    const logDir = tempDir();
    const catalogFile = writeCatalog(logDir, CATALOG);
    // A receiver that never answers the first attempt, with a long timeout: shutdown must not wait for it.
    const env = { ...ALLOW_LOOPBACK, WEBHOOK_TIMEOUT_S: '60', WEBHOOK_POLL_S: '0.2' };
    let server = await startServer({ logDir, catalogFile, env });
    receiver.answers.set('/hang', [0]);
    const { body } = await create(server.url, { url: receiver.url('/hang'), filter: { tools: ['hello'] } });
    await runToEnd(server.url, 'hello');
    await waitFor('the first attempt', () => receiver.at('/hang').length === 1);
    const stopping = performance.now();
    await server.stop();
    const stopMs = performance.now() - stopping;
    expect(stopMs).toBeLessThan(10_000);
    server = await startServer({ logDir, catalogFile, env });
    try {
      const [delivery] = await deliveriesUntil(server.url, body.endpoint.id, 'the delivery after the restart', (list) => list[0]?.state === 'delivered');
      expect(delivery).toMatchObject({ attempts: 2, response_status: 200 });
      expect(receiver.at('/hang')).toHaveLength(2);
      console.log(`shutdown with an attempt under way: ${Math.round(stopMs)} ms; sent again after the restart`);
    } finally {
      await server.stop();
    }
  });
});
