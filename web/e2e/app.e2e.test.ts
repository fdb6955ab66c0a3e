/**
 * The web app in a real browser: Debian's Chromium driven by playwright-core, against the real
 * server started by the test. Screenshots of the main screens land in test-results/screenshots/.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/src/schemas/auth';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, fetchAuthed, startServer, waitFor, type TestServer } from '../../server/test/harness';
import { CATALOG, launchChromium, openPage, SHOTS } from './browser';


let browser: Browser;
let server: TestServer;

beforeAll(async () => {
  browser = await launchChromium();
  server = await startServer({ catalogFile: CATALOG });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh page; with `credential`, already signed in (as after an earlier visit). `watch` sees the page before it loads. */
const open = (s: TestServer, route: string, credential?: string, viewport = { width: 1280, height: 900 }, watch?: (page: Page) => void) => openPage(browser, s.url + route, { credential, viewport, watch });

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
const runIdOf = (page: Page) => decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
const log = (page: Page) => page.getByRole('log', { name: 'Log output' });

describe('the web app', () => {
  it('signs in with an API key, starts hello with one click and shows its output; the tab names the page; nothing is missing (404)', async () => {
    const missing: string[] = [];
    const page = await open(server, '/', undefined, undefined, (p) => p.on('response', (r) => void (r.status() === 404 && missing.push(r.url()))));
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await page.getByLabel('API key or JWT').fill(server.adminKey);
    await shot(page, '01-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('env:ADMIN_API_KEY').waitFor();
    await expect(page.getByRole('button', { name: 'Run missing' }).isDisabled()).resolves.toBe(true);
    await shot(page, '02-home');

    await page.getByRole('button', { name: 'Run hello' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await log(page).getByText('Hello OSS Runner').waitFor();
    await page.locator('.run-head [data-status="succeeded"]').waitFor();
    expect(await page.getByTestId('exit-code').textContent()).toBe('0');
    expect(await page.title()).toBe('hello (succeeded) · OSS Runner');
    await page.getByRole('link', { name: 'OSS Runner' }).click();
    await page.waitForFunction(() => document.title === 'Runs · OSS Runner');
    expect(missing).toEqual([]);
    await page.goBack();
    await shot(page, '03-run-hello');
    await page.context().close();
  });

  it('runs a tool with parameters from a form generated from its schema', async () => {
    const page = await open(server, '/', server.adminKey);
    await page.getByRole('button', { name: 'Run greet' }).click();
    const form = page.getByRole('form', { name: 'Parameters of greet' });
    await form.getByLabel('who').fill('Ada Lovelace');
    await form.getByLabel('times').fill('2');
    await form.getByLabel('loud').check();
    await form.getByLabel('blue').check();
    await shot(page, '02b-parameters');
    await form.getByRole('button', { name: 'Run greet' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await log(page).getByText('--colours=red,blue').waitFor();
    const run = (await api<RunEnvelope>(server.url, 'GET', `/runs/${runIdOf(page)}`)).body.run;
    expect(run.cmd).toEqual(['printf', '%s\\n', 'Ada Lovelace', '--times=2', '--loud', '--colours=red,blue']);

    // The browser has the server's pattern: it refuses the value before anything is sent.
    await page.goto(`${server.url}/ui/`);
    await page.getByRole('button', { name: 'Run greet' }).click();
    const again = page.getByRole('form', { name: 'Parameters of greet' });
    await again.getByLabel('who').fill('$(id)');
    expect(await again.getByLabel('who').evaluate((input: HTMLInputElement) => input.validity.patternMismatch)).toBe(true);
    // Past the browser (its check removed), the server's refusal shows beside the field it names.
    await again.getByLabel('who').evaluate((input) => input.removeAttribute('pattern'));
    await again.getByRole('button', { name: 'Run greet' }).click();
    const error = again.getByRole('alert');
    await error.getByText(/must match/).waitFor();
    expect(await again.getByLabel('who').getAttribute('aria-invalid')).toBe('true');
    expect(await again.getByLabel('who').getAttribute('aria-describedby')).toBe(await error.getAttribute('id'));
    await shot(page, '02c-parameter-error');
    await page.context().close();
  });

  it('lists a run’s artifacts and limits, and downloads an artifact', async () => {
    const page = await open(server, '/', server.adminKey);
    await page.getByRole('button', { name: 'Run report' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await page.locator('.run-head [data-status="succeeded"]').waitFor();
    expect(await page.getByTestId('limits').textContent()).toMatch(/^256\.0 MiB memory, 64 processes, .*no network, sandboxed$/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'report.json' }).click()]);
    expect(download.suggestedFilename()).toBe('report.json');
    const file = await download.path();
    expect(readFileSync(file, 'utf8')).toBe('{"findings": 2}\n');
    await shot(page, '03b-artifacts');
    await page.context().close();
  });

  it('shows what a scan found in the runs list and on the run page, and what is new since the last run', async () => {
    for (let i = 0; i < 2; i++) {
      const { body } = await api<RunEnvelope>(server.url, 'POST', '/set/scan');
      await waitFor('the scan to end', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${body.run.run_id}`)).body.run.summary ? true : undefined));
    }
    const page = await open(server, '/', server.adminKey);
    const row = page.locator('table.runs tbody tr', { hasText: 'scan' }).first();
    await row.getByText('1 critical').waitFor();
    expect(await row.locator('.summary-line').textContent()).toBe('1 critical1 high+1 new');
    await row.getByRole('link', { name: 'scan' }).click();
    await page.getByRole('region', { name: 'Summary' }).waitFor();
    expect(await page.getByTestId('new-since-previous').textContent()).toBe('Since the previous run: 1 critical new');
    await shot(page, '03c-summary');
    await page.context().close();
  });

  it('renders ANSI colours and keeps markup in a log as text', async () => {
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/colours')).body;
    const page = await open(server, `/ui/runs/${run.run_id}`, server.adminKey);
    const red = log(page).getByText('red', { exact: true });
    await red.waitFor();
    expect(await red.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(255, 123, 114)'); // the log's palette (logview.e2e.test.ts checks its contrast)
    await log(page).getByText('<img src=x onerror=alert(1)><script>alert(2)</script>').waitFor();
    expect(await page.locator('.log-lines img, .log-lines script').count()).toBe(0);
    await page.context().close();
  });

  it('shows a long run live, stops it after a confirmation, and shows it stopped', async () => {
    const page = await open(server, '/', server.adminKey);
    await page.getByRole('button', { name: 'Run ticker' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await log(page).getByText('tick 3', { exact: true }).waitFor();
    await log(page).getByText('tick 8', { exact: true }).waitFor(); // lines keep arriving
    await page.locator('.run-head [data-status="running"]').waitFor();
    await shot(page, '04-run-live');

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Stop this run?' });
    await dialog.waitFor();
    await shot(page, '05-stop-confirmation');
    await dialog.getByRole('button', { name: 'Stop the run' }).click();
    await page.locator('.run-head [data-status="stopped"]').waitFor();
    const runId = runIdOf(page);
    expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`)).body.run.status).toBe('stopped');
    await expect(page.getByRole('button', { name: 'Stop', exact: true }).count()).resolves.toBe(0);
    await shot(page, '06-run-stopped');

    // The runs list got the change by subscription.
    await page.getByRole('link', { name: '← Runs' }).click();
    await page.locator(`tr[data-run-id="${runId}"] [data-status="stopped"]`).waitFor();
    await shot(page, '07-runs-list');
    await page.context().close();
  });

  it('updates the runs list live when a run starts and ends elsewhere', async () => {
    const page = await open(server, '/', server.adminKey);
    await page.locator('table.runs').waitFor();
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/ticker')).body;
    const row = page.locator(`tr[data-run-id="${run.run_id}"]`);
    await row.locator('[data-status="running"]').waitFor();
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    await row.locator('[data-status="stopped"]').waitFor();
    await page.context().close();
  });

  it('opens a finished run of a million lines at its end, searches it, and shows the same after a reload', async () => {
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/million')).body;
    await waitFor('the million lines', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.status === 'succeeded' ? true : undefined), 30_000);
    const page = await open(server, `/ui/runs/${run.run_id}`, server.adminKey);
    const count = page.getByTestId('match-count');
    await page.waitForFunction(() => document.querySelector('[data-testid="match-count"]')?.textContent === '1,000,000 lines', undefined, { timeout: 30_000 });
    await log(page).getByText('line 1000000 of the million').waitFor();
    expect(await page.locator('.log-lines .line').count()).toBeLessThan(200); // virtualized
    await shot(page, '08-million-end');

    await page.getByLabel('Search the log').fill('line 0500000 of');
    await page.getByLabel('Search the log').press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid="match-count"]')?.textContent === '1 of 1');
    await log(page).locator('mark', { hasText: 'line 0500000 of' }).waitFor();
    expect(await log(page).locator('.line.current').getAttribute('data-line')).toBe('500000');
    await shot(page, '09-million-search');

    await page.reload();
    await page.waitForFunction(() => document.querySelector('[data-testid="match-count"]')?.textContent === '1,000,000 lines', undefined, { timeout: 30_000 });
    await log(page).getByText('line 1000000 of the million').waitFor();
    expect(await count.textContent()).toBe('1,000,000 lines');
    await page.context().close();
  });

  it('a run page: a one-line header, the log from the top of the screen, Run again with the same parameters', async () => {
    const page = await open(server, '/', server.adminKey);
    await page.getByRole('button', { name: 'Run greet' }).click();
    const form = page.getByRole('form', { name: 'Parameters of greet' });
    await form.getByLabel('who').fill('Grace');
    await form.getByRole('button', { name: 'Run greet' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    const first = runIdOf(page);
    await log(page).getByText('Grace', { exact: true }).waitFor();
    await page.locator('.run-head [data-status="succeeded"]').waitFor();
    // The header is one line; the log's first line is in the upper third of the screen, and the log reaches the bottom.
    const head = await page.locator('.run-head').boundingBox();
    expect(head?.height).toBeLessThan(60);
    const firstLine = await log(page).getByText('Grace', { exact: true }).boundingBox();
    expect(firstLine?.y).toBeLessThan(300);
    const box = await log(page).boundingBox();
    expect((box?.y ?? 0) + (box?.height ?? 0)).toBeGreaterThan(700);
    await shot(page, '03c-run-page');
    await page.getByRole('button', { name: 'Run again' }).click();
    await page.waitForURL((url) => !url.pathname.endsWith(first));
    await log(page).getByText('Grace', { exact: true }).waitFor();
    const again = (await api<RunEnvelope>(server.url, 'GET', `/runs/${runIdOf(page)}`)).body.run;
    const before = (await api<RunEnvelope>(server.url, 'GET', `/runs/${first}`)).body.run;
    expect(again.params).toEqual(before.params);
    expect(again.cmd).toEqual(before.cmd);
    await page.context().close();
  });

  it('keeps its facts fresh: a stopped run leaves the running filter, the log counts its lines while live, an unknown run says so at once', async () => {
    const page = await open(server, '/ui/?status=running', server.adminKey);
    await page.getByText('No run matches these filters.').waitFor();
    await new Promise((r) => setTimeout(r, 500)); // the list's subscription settles in
    const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/ticker')).body;
    const row = page.locator('table.runs tbody tr', { hasText: 'ticker' });
    await row.first().waitFor();
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    await page.waitForFunction((id) => ![...document.querySelectorAll('table.runs a')].some((a) => a.getAttribute('href')?.endsWith(id)), run.run_id);

    const { run: live } = (await api<RunEnvelope>(server.url, 'POST', '/set/ticker')).body;
    await page.goto(`${server.url}/ui/runs/${live.run_id}`);
    await log(page).getByText('tick 3', { exact: true }).waitFor();
    await page.getByText('Details').click();
    const counted = async () => Number((await page.locator('.facts dd', { hasText: 'lines so far' }).textContent())?.replace(/\D/g, ''));
    const seen = await counted();
    await log(page).getByText('tick 8', { exact: true }).waitFor();
    expect(await counted()).toBeGreaterThan(seen);
    await api(server.url, 'POST', `/runs/${live.run_id}/stop`);

    const started = Date.now();
    await page.goto(`${server.url}/ui/runs/no-such-run`);
    await page.getByText('There is no run no-such-run.').waitFor();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await page.getByText(/live log was interrupted/).count()).toBe(0);
    await page.context().close();
  });

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

  it('loads at most 250 kB of JavaScript, gzipped', async () => {
    const page = await open(server, '/');
    // The first script and the shared ones it preloads (the other pages' scripts come when they are opened).
    const scripts = await page.evaluate(() => [...document.querySelectorAll('script[src], link[rel="modulepreload"]')].map((s) => (s as HTMLScriptElement).src || (s as HTMLLinkElement).href));
    let total = 0;
    for (const src of scripts) total += gzipSync(Buffer.from(await (await fetch(src)).arrayBuffer())).length;
    expect(scripts.length).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(250 * 1024);
    await page.context().close();
  });

  it('is readable on a phone', async () => {
    const page = await open(server, '/', server.adminKey, { width: 390, height: 844 });
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, '11-phone');
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

describe('unbroken', () => {
  it('reconnects after the server restarts and resumes the log: nothing missing, nothing twice', async () => {
    const first = await startServer({ catalogFile: CATALOG });
    const port = new URL(first.url).port;
    const page = await open(first, '/', first.adminKey);
    await page.getByRole('button', { name: 'Run ticker' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await log(page).getByText('tick 5', { exact: true }).waitFor();
    const runId = runIdOf(page);

    await first.crash();
    await page.getByText('Reconnecting to the server…').waitFor();
    const second = await startServer({ catalogFile: CATALOG, logDir: first.logDir, env: { PORT: port, ADMIN_API_KEY: first.adminKey } });
    try {
      await page.locator('.run-head [data-status="lost"]').waitFor({ timeout: 30_000 });
      const raw = await (await fetchAuthed(`${second.url}/runs/${runId}/log`)).text();
      const expected = raw.split('\n').filter(Boolean);
      expect(expected.length).toBeGreaterThanOrEqual(5);
      await page.waitForFunction((n) => document.querySelector('[data-testid="match-count"]')?.textContent === `${n} lines`, expected.length);
      // Every line once, in order: the log view holds exactly what the raw log holds.
      const final = (await api<RunEnvelope>(second.url, 'GET', `/runs/${runId}`)).body.run;
      expect(final.status).toBe('lost');
      // The ticks, then the server's word on why the log ends there.
      expect(expected.at(-1)).toMatch(/^oss-runner: the server stopped while this run was going/);
      await page.getByLabel('Search the log').fill(`tick ${expected.length - 1}`);
      await page.getByLabel('Search the log').press('Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="match-count"]')?.textContent?.endsWith('of 1'));
      await shot(page, '12-after-restart');
    } finally {
      await page.context().close();
      await second.stop();
    }
  });
});
