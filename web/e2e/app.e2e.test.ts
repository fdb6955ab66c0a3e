/**
 * The web app in a real browser: Debian's Chromium driven by playwright-core, against the real
 * server started by the test: signing in, running tools, a run's page and the runs list, live.
 * Screenshots of the main screens land in test-results/screenshots/. Who may do what and credential
 * failures: access.e2e.test.ts; a million lines, weight, a phone, a restart: pages.e2e.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, waitFor } from '../../server/test/harness';
import { log, open, runIdOf, shot } from './app';
import { server, startBrowserAndServer } from './browser';

startBrowserAndServer();

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

});
