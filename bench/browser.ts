/**
 * The log viewer in Chromium (playwright-core, Debian's /usr/bin/chromium), against the bench server
 * (the web app as built in dist/web: run `npx vite build` first). Two figures, each beside a baseline
 * measured in the same invocation:
 *
 * - live: a run of the `lines` tool started, its page opened at once, until its last line is shown;
 *   baseline: the same tool's run read by `curl -N` on the SSE route (the time the server takes to
 *   stream it). Target: 2x.
 * - finished: the page of that finished run opened by its link, until its last line is shown;
 *   baseline: the page of a finished one-line run (the app's own start). Target: 1 s.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunEnvelope } from '../shared/src/schemas/run';
import { api, waitFor, type TestServer } from '../server/test/harness';
import { LINE, median, s, type Row, type Sizes } from './cases';
import { readCurl } from './readers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** How long the browser is left to draw a new window before a measure starts. */
const SETTLE_MS = 1500;

const startRun = async (server: TestServer, name: string) =>
  (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;

/**
 * A browser of someone signed in before: the credential stored, and the app once opened with it (what
 * the app keeps of that visit kept), its HTTP cache then emptied, so the page measured loads every
 * script as a first visit does. The clock starts once the browser has drawn the page's new window (its
 * own UI, in a renderer of its own: 0.5-0.7 s of CPU that overlapped the measure on 2 cores), as for a
 * link opened in a window already there.
 */
async function newPage(browser: Browser, server: TestServer): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((c) => {
    if (!localStorage.getItem('oss-runner.credential')) localStorage.setItem('oss-runner.credential', c);
  }, server.adminKey);
  const before = await context.newPage();
  await before.goto(`${server.url}/ui/`);
  await before.locator('.session .role').waitFor();
  await (await context.newCDPSession(before)).send('Network.clearBrowserCache');
  const page = await context.newPage();
  await before.close();
  await page.waitForTimeout(SETTLE_MS);
  return page;
}

/**
 * Navigates to the run's page; answers when a line of the log reading `text` is on screen (a finished
 * log's end shows before its line numbers are known), and when it shows with its number `n`
 * (performance.now() of this process).
 */
async function shownAt(page: Page, server: TestServer, runId: string, n: number, text: string): Promise<{ shown: number; numbered: number }> {
  await page.goto(`${server.url}/ui/runs/${runId}`);
  await page.locator('.log-lines .line', { hasText: text }).first().waitFor({ timeout: 120_000 });
  const shown = performance.now();
  await page.locator(`.log-lines .line[data-line="${n}"]`, { hasText: text }).waitFor({ timeout: 120_000 });
  return { shown, numbered: performance.now() };
}

const ended = (server: TestServer, runId: string) =>
  waitFor('the run to end', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run.finished_at ? true : undefined), 120_000);

export async function logViewer(server: TestServer, sizes: Sizes): Promise<Row[]> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  const last = LINE(sizes.lines - 1);
  const stream: number[] = [];
  const live: number[] = [];
  const app: number[] = [];
  const finished: number[] = [];
  const numbered: number[] = [];
  let mismatches = 0;
  try {
    const hello = await startRun(server, 'hello');
    await ended(server, hello.run_id);
    for (let i = 0; i < sizes.repeat; i++) {
      let t0 = performance.now();
      const streamed = await readCurl(server, (await startRun(server, 'lines')).run_id, LINE);
      stream.push(streamed.doneAt - t0);
      mismatches += streamed.mismatches;

      const page = await newPage(browser, server);
      t0 = performance.now();
      const run = await startRun(server, 'lines');
      live.push((await shownAt(page, server, run.run_id, sizes.lines, last)).numbered - t0);
      await page.context().close();
      await ended(server, run.run_id);

      const helloPage = await newPage(browser, server);
      t0 = performance.now();
      app.push((await shownAt(helloPage, server, hello.run_id, 1, 'hello')).numbered - t0);
      await helloPage.context().close();

      const again = await newPage(browser, server);
      t0 = performance.now();
      const seen = await shownAt(again, server, run.run_id, sizes.lines, last);
      finished.push(seen.shown - t0);
      numbered.push(seen.numbered - t0);
      await again.context().close();
    }
  } finally {
    await browser.close();
  }
  const lines = sizes.lines.toLocaleString('en');
  return [
    {
      case: `${lines} lines, live, in Chromium: start to the last line shown`,
      baseline: `${s(median(stream))} (the server streams it to curl -N)`,
      measured: s(median(live)),
      ratio: `${(median(live) / median(stream)).toFixed(2)}x the stream`,
      target: '<= 2x the stream',
      met: median(live) <= 2 * median(stream),
      mismatches,
    },
    {
      case: `${lines} lines, finished, in Chromium: navigation to the last line shown`,
      baseline: `${s(median(app))} (a finished one-line run's page)`,
      measured: `${s(median(finished))}; with its line number (the whole log read) ${s(median(numbered))}`,
      ratio: `${(median(finished) / median(app)).toFixed(2)}x the one-line page`,
      target: '<= 1 s',
      met: median(finished) <= 1000,
      mismatches: 0,
    },
  ];
}
