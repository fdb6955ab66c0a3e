/**
 * The web app under weight, in a real browser (Debian's Chromium, playwright-core) against the real
 * server: a finished run of a million lines, the JavaScript it loads, a phone's screen, and a server
 * that restarts under a live log.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, fetchAuthed, startServer, waitFor } from '../../server/test/harness';
import { log, open, runIdOf, shot } from './app';
import { CATALOG, server, startBrowserAndServer } from './browser';

startBrowserAndServer();

describe('the web app', () => {
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
