/**
 * The sender against a real HTTP server on loopback: the address guard refuses it by name
 * (`localhost`, resolved when connecting) and by address (IPv4, IPv4-mapped IPv6), lets it through
 * when WEBHOOK_ALLOWED_NETWORKS names it; and the retry schedule.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressGuard } from './addressGuard';
import { afterAttempt, retryGap } from './deliveryWorker';
import { createSender } from './sender';

let server: http.Server;
let port: number;
let hits = 0;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((r) => server.close(r)));

const attempt = (url: string) => ({ url, secret: 'whsec_test', deliveryId: 'd1', event: 'run.ended', body: '{}' });

describe('the address guard', () => {
  it('tells special-purpose addresses from public ones', () => {
    const guard = new AddressGuard();
    const refused = ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1'];
    const allowed = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'];
    expect(refused.filter((a) => guard.permits(a))).toEqual([]);
    expect(allowed.filter((a) => !guard.permits(a))).toEqual([]);
    const some = new AddressGuard(['10.20.0.0/16', '::1/128']);
    expect(['10.20.1.2', '::1'].every((a) => some.permits(a))).toBe(true);
    expect(['10.21.0.1', '127.0.0.1'].some((a) => some.permits(a))).toBe(false);
  });

  it('refuses a name that resolves to loopback when connecting, and loopback addresses written out', async () => {
    const send = createSender({ guard: new AddressGuard(), timeoutMs: 2000, userAgent: 'test' });
    const before = hits;
    for (const url of [`http://localhost:${port}/`, `http://127.0.0.1:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://[::1]:${port}/`]) {
      const outcome = await send(attempt(url));
      expect(outcome.status, url).toBeNull();
      expect(outcome.error, url).toMatch(/loopback, private or link-local address: refused/);
    }
    expect(hits).toBe(before);
  });

  it('reaches the same receiver when WEBHOOK_ALLOWED_NETWORKS allows loopback', async () => {
    const send = createSender({ guard: new AddressGuard(['127.0.0.0/8']), timeoutMs: 2000, userAgent: 'test' });
    const before = hits;
    expect(await send(attempt(`http://localhost:${port}/`))).toEqual({ status: 200, error: null });
    expect(await send(attempt(`http://127.0.0.1:${port}/`))).toEqual({ status: 200, error: null });
    expect(hits).toBe(before + 2);
  });
});

describe('the retry schedule', () => {
  const policy = { baseMs: 30_000, maxIntervalMs: 3600_000, giveUpAfterMs: 24 * 3600_000 };

  it('doubles the gap after each failure, up to the longest gap', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryGap(policy, n) / 1000)).toEqual([30, 60, 120, 240, 480]);
    expect(retryGap(policy, 12)).toBe(3600_000);
    expect(retryGap(policy, 10_000)).toBe(3600_000);
  });

  it('gives up once the next attempt would come after WEBHOOK_RETRY_FOR_S', () => {
    const created = Date.parse('2026-01-01T00:00:00Z');
    const failure = { status: 500, error: 'the receiver answered 500' };
    const early = afterAttempt({ policy, delivery: { attempts: 3, created_at: new Date(created).toISOString() }, outcome: failure, now: created + 60_000 });
    expect(early).toMatchObject({ state: 'pending', response_status: 500, next_attempt_at: new Date(created + 60_000 + 120_000).toISOString() });
    const late = afterAttempt({ policy, delivery: { attempts: 20, created_at: new Date(created).toISOString() }, outcome: failure, now: created + 23.5 * 3600_000 });
    expect(late).toMatchObject({ state: 'failed', next_attempt_at: null });
    expect(late.error).toContain('given up after 20 attempt(s)');
    expect(afterAttempt({ policy, delivery: { attempts: 1, created_at: new Date(created).toISOString() }, outcome: { status: 204, error: null }, now: created })).toMatchObject({ state: 'delivered', response_status: 204 });
  });
});
