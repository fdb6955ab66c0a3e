/**
 * Who may do what in the web app, and credentials that fail, in a real browser (Debian's Chromium,
 * playwright-core) against the real server: a viewer's page, a 401, a mistyped key, a 429, a JWT's
 * expiry, a key revoked before or while its page is open.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/src/schemas/auth';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, startServer, type TestServer } from '../../server/test/harness';
import { log, open, shot } from './app';
import { CATALOG, server, startBrowserAndServer } from './browser';

startBrowserAndServer();

describe('the web app', () => {
  it('offers a viewer no Run or Stop button', async () => {
    const { body: viewer } = await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: 'e2e viewer', role: 'viewer' });
    const page = await open(server, '/', viewer.key);
    await page.getByText('viewer', { exact: true }).waitFor();
    await page.getByRole('heading', { name: 'hello' }).waitFor();
    expect(await page.getByRole('button', { name: /^Run / }).count()).toBe(0);
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/ticker')).body;
    await page.goto(`${server.url}/ui/runs/${run.run_id}`);
    await log(page).getByText('tick 2', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Stop', exact: true }).count()).toBe(0);
    await shot(page, '10-viewer');
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    await page.context().close();
  });

  it('brings the sign-in back on a 401 without losing the page', async () => {
    const { body: key } = await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: 'soon revoked', role: 'viewer' });
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/hello')).body;
    await api(server.url, 'DELETE', `/api-keys/${key.api_key.id}`);
    const page = await open(server, `/ui/runs/${run.run_id}`, key.key);
    await page.getByText('The server did not accept this key or token').waitFor();
    await page.getByLabel('API key or JWT').fill(server.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await log(page).getByText('Hello OSS Runner').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/ui/runs/${run.run_id}`);
    await page.context().close();
  });

});

describe('credential failures fail safe', () => {
  const SECRET = 'e2e-jwt-secret-of-at-least-32-bytes!';
  let guarded: TestServer;
  beforeAll(async () => {
    // A small failure limit over a short window, and revocations seen within a second.
    guarded = await startServer({ catalogFile: CATALOG, env: { AUTH_FAILURES_PER_MINUTE: '3', AUTH_FAILURES_WINDOW_S: '8', AUTH_RECHECK_S: '1', AUTH_JWT_SECRET: SECRET, AUTH_JWT_CLOCK_TOLERANCE_S: '0' } });
  });
  afterAll(() => guarded?.stop());

  /** Counts the page's tRPC requests and WebSockets, to show when it stops sending. */
  function traffic(page: Page) {
    const seen = { requests: 0, sockets: 0 };
    page.on('request', (r) => void (new URL(r.url()).pathname.startsWith('/trpc') && seen.requests++));
    page.on('websocket', () => void seen.sockets++);
    return seen;
  }

  it('a mistyped key: the sign-in is back at once with the key to correct, nothing more is sent with it, no one is locked out; Enter signs in', async () => {
    let seen = { requests: 0, sockets: 0 };
    const page = await open(guarded, '/', 'osr_mistyped_0000000000000000000000000000', undefined, (p) => (seen = traffic(p)));
    await page.getByText('The server did not accept this key or token. Check it and try again.').waitFor();
    expect(await page.getByLabel('API key or JWT').inputValue()).toBe('osr_mistyped_0000000000000000000000000000');
    const then = { ...seen };
    await new Promise((r) => setTimeout(r, 4000));
    expect(seen).toEqual(then);
    expect(seen.sockets).toBeLessThanOrEqual(1);
    // Fewer refusals than the limit (3): the address is not refused, a good key still works.
    expect((await api(guarded.url, 'GET', '/runs')).status).toBe(200);
    await page.getByLabel('API key or JWT').fill(guarded.adminKey);
    await page.getByLabel('API key or JWT').press('Enter');
    await page.getByText('env:ADMIN_API_KEY').waitFor();
    await shot(page, '13-signed-in-after-a-mistype');
    await page.context().close();
  });

  it('a 429: the wait is shown, nothing is sent meanwhile, and the app comes back by itself', async () => {
    for (let i = 0; i < 3; i++) await api(guarded.url, 'GET', '/runs', undefined, { authorization: 'Bearer osr_not_a_key_00000000000000000000000000000' });
    expect((await api(guarded.url, 'GET', '/runs')).status).toBe(429);
    let seen = { requests: 0, sockets: 0 };
    const page = await open(guarded, '/', guarded.adminKey, undefined, (p) => (seen = traffic(p)));
    const banner = page.getByText(/The server refuses requests from this address for now .* tries again by itself in \d+ s/);
    await banner.waitFor();
    await shot(page, '14-throttled');
    // Nothing is sent during the wait: watched for 1.5 s, or what is left of the wait less a second on a slow machine.
    const left = Number(/in (\d+) s/.exec((await banner.textContent()) ?? '')?.[1]);
    const during = { ...seen };
    await new Promise((r) => setTimeout(r, Math.min(1500, (left - 1) * 1000)));
    expect(seen).toEqual(during);
    await page.getByText('env:ADMIN_API_KEY').waitFor({ timeout: 15_000 });
    expect(await page.getByText(/refuses requests from this address/).count()).toBe(0);
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.context().close();
  });

  it('a JWT: the countdown ticks by the second before expiry, and the sign-in is back at expiry', async () => {
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ role: 'viewer' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ada')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 6)
      .sign(new TextEncoder().encode(SECRET));
    const page = await open(guarded, '/', token);
    const countdown = page.getByText(/^token expires in/);
    await countdown.waitFor();
    const first = await countdown.textContent();
    await page.waitForFunction((text) => document.querySelector('.session .warning')?.textContent !== text, first, { timeout: 3000 });
    await page.getByText('Your token has expired. Sign in again to go on where you were.').waitFor({ timeout: 10_000 });
    await page.context().close();
  });

  it('a key accepted on an earlier visit opens a run page without waiting for /me; revoked since, the sign-in is back at once, the page kept, and nothing more is sent', async () => {
    // A server of its own: the page's first requests all go out with the revoked key (up to 4 failures, over this describe's limit of 3).
    const own = await startServer({ catalogFile: CATALOG });
    try {
      const { body: key } = await api<CreatedApiKey>(own.url, 'POST', '/api-keys', { name: 'accepted before', role: 'viewer' });
      const { run } = (await api<RunEnvelope>(own.url, 'POST', '/set/hello')).body;
      const earlier = await open(own, '/', key.key);
      await earlier.locator('.session .role').waitFor();
      const context = earlier.context();
      const page = await context.newPage();
      const asked: string[] = [];
      page.on('request', (r) => void asked.push(new URL(r.url()).pathname));
      await page.goto(`${own.url}/ui/runs/${run.run_id}`);
      await log(page).getByText('Hello OSS Runner').waitFor();
      // The run was asked for in the same request as /me, not after its answer.
      expect(asked.filter((p) => p.includes('auth.me') && p.includes('runs.get'))).toHaveLength(1);

      await api(own.url, 'DELETE', `/api-keys/${key.api_key.id}`);
      const again = await context.newPage();
      const seen = traffic(again);
      await again.goto(`${own.url}/ui/runs/${run.run_id}`);
      await again.getByText('The server did not accept this key or token').waitFor();
      const then = { ...seen };
      await new Promise((r) => setTimeout(r, 3000));
      expect(seen).toEqual(then);
      expect(new URL(again.url()).pathname).toBe(`/ui/runs/${run.run_id}`);
      // A later visit waits for /me again: the refusal cleared what the browser kept of the key.
      expect(await again.evaluate(() => localStorage.getItem('oss-runner.accepted'))).toBeNull();
      await again.getByLabel('API key or JWT').fill(own.adminKey);
      await again.getByRole('button', { name: 'Sign in' }).click();
      await log(again).getByText('Hello OSS Runner').waitFor();
      await context.close();
    } finally {
      await own.stop();
    }
  });

  it('a key revoked while its page is open: the live log ends and the sign-in is back within AUTH_RECHECK_S', async () => {
    const { body: key } = await api<CreatedApiKey>(guarded.url, 'POST', '/api-keys', { name: 'revoked while open', role: 'viewer' });
    const { run } = (await api<RunEnvelope>(guarded.url, 'POST', '/set/ticker')).body;
    let seen = { requests: 0, sockets: 0 };
    const page = await open(guarded, `/ui/runs/${run.run_id}`, key.key, undefined, (p) => (seen = traffic(p)));
    await log(page).getByText('tick 2', { exact: true }).waitFor();
    await api(guarded.url, 'DELETE', `/api-keys/${key.api_key.id}`);
    await page.getByText('The server no longer accepts your credential').waitFor({ timeout: 5000 });
    const then = { ...seen };
    await new Promise((r) => setTimeout(r, 3000));
    expect(seen).toEqual(then);
    expect(new URL(page.url()).pathname).toBe(`/ui/runs/${run.run_id}`);
    await api(guarded.url, 'POST', `/runs/${run.run_id}/stop`);
    await page.context().close();
  });
});
