/**
 * Accessibility of the web app in a real browser: axe-core on every screen, light and dark, desktop
 * and phone, against the real server; then what axe cannot see: focus in dialogs, the skip link,
 * focus after starting a run or cancelling a form, and no sideways scrolling on a phone.
 * Screenshots land in test-results/screenshots/a11y-*.png.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type axe from 'axe-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/src/schemas/auth';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import type { CreatedWebhook, DeliveryList } from '../../shared/src/schemas/webhook';
import { api, ROOT, startServer, waitFor, type TestServer } from '../../server/test/harness';
import { CATALOG as TEST_CATALOG, launchChromium, openPage, SHOTS } from './browser';

// The browser tests' catalog, and one tool that fails, for the failed run's page.
const CATALOG = `${readFileSync(TEST_CATALOG, 'utf8')}
  - name: fails
    description: prints an error and exits 3
    cmd: ["bash", "-c", "echo 'error: no such file' >&2; exit 3"]
`;
const AXE = readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

const SCHEMES = ['light', 'dark'] as const;
const SIZES = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;
type Scheme = (typeof SCHEMES)[number];
type Size = keyof typeof SIZES;

let browser: Browser;
let server: TestServer;
let viewerKey: string;
/** Finished runs the screens show. */
const runs: Record<'scan' | 'failed' | 'colours', Run> = {} as never;

beforeAll(async () => {
  browser = await launchChromium();
  server = await startServer({ catalog: CATALOG });
  viewerKey = (await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: 'a11y viewer', role: 'viewer' })).body.key;
  // Two scans (the second has something new since the first), a failure, colours: all finished.
  for (const name of ['scan', 'scan', 'fails', 'colours', 'hello'] as const) {
    const { run } = (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`)).body;
    const ended = await waitFor(`${name} to end`, async () => {
      const now = (await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run;
      return now.finished_at && (name !== 'scan' || now.summary) ? now : undefined;
    });
    if (name === 'scan') runs.scan = ended;
    if (name === 'fails') runs.failed = ended;
    if (name === 'colours') runs.colours = ended;
  }
  expect(runs.failed.status).toBe('failed');
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface Opened {
  page: Page;
  context: BrowserContext;
}

/** A fresh page in its own context (openPage: an error thrown in the page fails the test), in a scheme and size; with `credential`, already signed in. */
async function open(s: TestServer, route: string, { credential, scheme = 'light', size = 'desktop' }: { credential?: string; scheme?: Scheme; size?: Size } = {}): Promise<Opened> {
  const page = await openPage(browser, s.url + route, { credential, viewport: SIZES[size], colorScheme: scheme });
  return { page, context: page.context() };
}

interface Violation {
  id: string;
  impact: string;
  targets: string[];
}

/** axe-core's violations on the page as it is now (the log's ANSI colours included). */
async function violations(page: Page): Promise<{ found: Violation[] }> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const { axe: run } = window as unknown as { axe: typeof axe };
    const results = await run.run(document, { resultTypes: ['violations'] });
    return { found: results.violations.map((v) => ({ id: v.id, impact: v.impact ?? 'unknown', targets: v.nodes.map((n) => n.target.join(' ')) })) };
  });
}

const report = (found: Violation[]) => found.map((v) => `${v.id} (${v.impact}) on ${v.targets.length}: ${v.targets.slice(0, 4).join(' | ')}`);

const startTicker = async () => (await api<RunEnvelope>(server.url, 'POST', '/set/ticker')).body.run;
const stopRun = (run: Run) => api(server.url, 'POST', `/runs/${run.run_id}/stop`);
const log = (page: Page) => page.getByRole('log', { name: 'Log output' });

interface Screen {
  name: string;
  /** Opens the screen and waits until it shows what it should; answers what to undo afterwards. */
  show(scheme: Scheme, size: Size): Promise<Opened & { cleanup?: () => Promise<unknown> }>;
}

const SCREENS: Screen[] = [
  {
    name: 'sign-in',
    async show(scheme, size) {
      const o = await open(server, '/', { scheme, size });
      await o.page.getByLabel('API key or JWT').waitFor();
      return o;
    },
  },
  {
    name: 'sign-in-refused',
    async show(scheme, size) {
      const o = await open(server, '/', { scheme, size, credential: 'osr_mistyped_0000000000000000000000000000' });
      await o.page.getByText('The server did not accept this key or token').waitFor();
      return o;
    },
  },
  {
    name: 'schedules',
    async show(scheme, size) {
      // A paused schedule: the list and the form both show.
      if (!(await api<{ items: unknown[] }>(server.url, 'GET', '/schedules')).body.items.length) await api(server.url, 'POST', '/schedules', { name: 'hello', cron: '0 3 * * 1-5', paused: true });
      const o = await open(server, '/ui/schedules', { scheme, size, credential: server.adminKey });
      await o.page.getByRole('button', { name: 'Resume the schedule of hello' }).waitFor();
      await o.page.getByText(/^Next: /).waitFor();
      return o;
    },
  },
  {
    name: 'home',
    async show(scheme, size) {
      const o = await open(server, '/', { scheme, size, credential: server.adminKey });
      await o.page.locator('table.runs [data-status="failed"]').first().waitFor();
      await o.page.getByRole('heading', { name: 'hello' }).waitFor();
      return o;
    },
  },
  {
    name: 'parameters',
    async show(scheme, size) {
      const o = await open(server, '/', { scheme, size, credential: server.adminKey });
      await o.page.getByRole('button', { name: 'Run greet' }).click();
      await o.page.getByRole('form', { name: 'Parameters of greet' }).waitFor();
      return o;
    },
  },
  {
    name: 'run-live',
    async show(scheme, size) {
      const run = await startTicker();
      const o = await open(server, `/ui/runs/${run.run_id}`, { scheme, size, credential: server.adminKey });
      await log(o.page).getByText('tick 3', { exact: true }).waitFor();
      await o.page.locator('.run-head [data-status="running"]').waitFor();
      return { ...o, cleanup: () => stopRun(run) };
    },
  },
  {
    name: 'stop-confirmation',
    async show(scheme, size) {
      const run = await startTicker();
      const o = await open(server, `/ui/runs/${run.run_id}`, { scheme, size, credential: server.adminKey });
      await log(o.page).getByText('tick 2', { exact: true }).waitFor();
      await o.page.getByRole('button', { name: 'Stop', exact: true }).click();
      await o.page.getByRole('alertdialog', { name: 'Stop this run?' }).waitFor();
      return { ...o, cleanup: () => stopRun(run) };
    },
  },
  {
    name: 'run-summary',
    async show(scheme, size) {
      const o = await open(server, `/ui/runs/${runs.scan.run_id}`, { scheme, size, credential: server.adminKey });
      await o.page.getByRole('region', { name: 'Summary' }).waitFor();
      await o.page.getByRole('button', { name: 'report.json' }).waitFor();
      return o;
    },
  },
  {
    name: 'run-failed',
    async show(scheme, size) {
      const o = await open(server, `/ui/runs/${runs.failed.run_id}`, { scheme, size, credential: server.adminKey });
      await o.page.locator('.run-head [data-status="failed"]').waitFor();
      await log(o.page).getByText('error: no such file').waitFor();
      return o;
    },
  },
  {
    name: 'run-colours',
    async show(scheme, size) {
      const o = await open(server, `/ui/runs/${runs.colours.run_id}`, { scheme, size, credential: server.adminKey });
      await log(o.page).getByText('bold green').waitFor();
      return o;
    },
  },
  {
    name: 'run-times',
    async show(scheme, size) {
      const o = await open(server, `/ui/runs/${runs.colours.run_id}`, { scheme, size, credential: server.adminKey });
      await log(o.page).getByText('bold green').waitFor();
      await o.page.getByLabel('Times').check();
      await o.page.waitForFunction(() => /^\d+:\d{2}\.\d$/.test(document.querySelector('.log-lines .line .ts')?.textContent ?? ''));
      return o;
    },
  },
  {
    name: 'webhooks',
    async show(scheme, size) {
      // An endpoint whose name never resolves (.invalid): its delivery of a hello run waits, pending.
      const description = `security channel, ${scheme} ${size}`;
      const hook = (await api<CreatedWebhook>(server.url, 'POST', '/webhooks', { url: 'http://hooks.invalid/oss-runner', description, filter: { tools: ['hello'] } })).body.endpoint;
      await api(server.url, 'POST', '/set/hello');
      await waitFor('an attempt', async () => (await api<DeliveryList>(server.url, 'GET', `/webhooks/${hook.id}/deliveries`)).body.items[0]?.attempts);
      const o = await open(server, '/ui/webhooks', { scheme, size, credential: server.adminKey });
      await o.page.getByRole('heading', { name: 'Webhooks' }).waitFor();
      await o.page.getByText('Subscribe an endpoint').click();
      await o.page.getByRole('listitem').filter({ hasText: description }).getByRole('button', { name: 'Deliveries' }).click();
      await o.page.getByRole('cell', { name: 'pending' }).first().waitFor();
      return { ...o, cleanup: () => api(server.url, 'DELETE', `/webhooks/${hook.id}`) };
    },
  },
  {
    name: 'not-found',
    async show(scheme, size) {
      const o = await open(server, '/ui/no/such/page', { scheme, size, credential: server.adminKey });
      await o.page.getByText('There is nothing here.').waitFor();
      return o;
    },
  },
  {
    name: 'viewer',
    async show(scheme, size) {
      const o = await open(server, '/', { scheme, size, credential: viewerKey });
      await o.page.getByText('viewer', { exact: true }).waitFor();
      await o.page.locator('table.runs').waitFor();
      await o.page.getByRole('heading', { name: 'hello' }).waitFor();
      return o;
    },
  },
  {
    name: 'viewer-run',
    async show(scheme, size) {
      const o = await open(server, `/ui/runs/${runs.scan.run_id}`, { scheme, size, credential: viewerKey });
      await o.page.getByRole('region', { name: 'Summary' }).waitFor();
      return o;
    },
  },
];

/** What axe found, by screen, for the closing summary. */
const tally: { screen: string; violations: number; nodes: number }[] = [];
const count = (screen: string, { found }: { found: Violation[] }) => tally.push({ screen, violations: found.length, nodes: found.reduce((n, v) => n + v.targets.length, 0) });

describe('axe-core finds nothing', () => {
  afterAll(() => {
    const bad = tally.filter((t) => t.violations > 0);
    console.log(`axe-core: ${tally.length} screens checked, ${bad.length} with violations, ${bad.reduce((n, t) => n + t.nodes, 0)} elements${bad.length ? `:\n  ${bad.map((t) => `${t.screen}: ${t.nodes}`).join('\n  ')}` : ''}`);
  });

  for (const scheme of SCHEMES)
    for (const size of Object.keys(SIZES) as Size[])
      describe(`${scheme}, ${size}`, () => {
        for (const screen of SCREENS)
          it(screen.name, async () => {
            const shown = await screen.show(scheme, size);
            try {
              const result = await violations(shown.page);
              await shown.page.screenshot({ path: path.join(SHOTS, `a11y-${screen.name}-${scheme}-${size}.png`), fullPage: true });
              count(`${screen.name} ${scheme} ${size}`, result);
              expect(report(result.found)).toEqual([]);
            } finally {
              await shown.context.close();
              await shown.cleanup?.();
            }
          });
      });

  it('while reconnecting to the server, in every scheme and size', async () => {
    const lone = await startServer({ catalog: CATALOG });
    const pages: (Opened & { name: string })[] = [];
    const found: string[] = [];
    try {
      for (const scheme of SCHEMES)
        for (const size of Object.keys(SIZES) as Size[]) {
          const o = await open(lone, '/', { scheme, size, credential: lone.adminKey });
          await o.page.getByRole('heading', { name: 'hello' }).waitFor();
          pages.push({ ...o, name: `reconnecting-${scheme}-${size}` });
        }
      await lone.crash();
      for (const o of pages) {
        await o.page.getByText('Reconnecting to the server…').waitFor();
        const result = await violations(o.page);
        await o.page.screenshot({ path: path.join(SHOTS, `a11y-${o.name}.png`) });
        count(o.name, result);
        found.push(...report(result.found).map((r) => `${o.name}: ${r}`));
      }
      expect(found).toEqual([]);
    } finally {
      for (const o of pages) await o.context.close();
      await lone.stop();
    }
  });
});

/** The focused element, described: its role or tag and its accessible text. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body) return 'body';
    const name = e.getAttribute('aria-label') ?? (e instanceof HTMLTextAreaElement || e instanceof HTMLInputElement ? e.id : e.textContent?.trim());
    return `${e.tagName.toLowerCase()}${e.id && !(e instanceof HTMLTextAreaElement || e instanceof HTMLInputElement) ? `#${e.id}` : ''} ${name}`;
  });
const insideDialog = (page: Page) => page.evaluate(() => document.activeElement?.closest('[role="dialog"], [role="alertdialog"]') !== null);

describe('focus', () => {
  it('Tab and Shift+Tab cycle inside the sign-in dialog, and Escape does nothing harmful there', async () => {
    const { page, context } = await open(server, '/', { credential: 'osr_mistyped_1111111111111111111111111111' });
    await page.getByText('The server did not accept this key or token').waitFor();
    expect(await focused(page)).toBe('textarea credential');
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      expect(await insideDialog(page)).toBe(true);
      seen.push(await focused(page));
    }
    expect(seen).toEqual(['button Sign in', 'button Sign out', 'textarea credential', 'button Sign in', 'button Sign out', 'textarea credential']);
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('button Sign out');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'Sign in' }).waitFor();
    expect(await page.getByLabel('API key or JWT').inputValue()).toBe('osr_mistyped_1111111111111111111111111111');
    expect(await insideDialog(page)).toBe(true);
    // A click on the page behind (the overlay) leaves focus in the dialog.
    await page.mouse.click(5, 5);
    expect(await insideDialog(page)).toBe(true);
    await context.close();
  });

  it('the Stop confirmation holds focus, closes on Escape and gives focus back to Stop; once stopped, the heading has it', async () => {
    const run = await startTicker();
    const { page, context } = await open(server, `/ui/runs/${run.run_id}`, { credential: server.adminKey });
    try {
      const stop = page.getByRole('button', { name: 'Stop', exact: true });
      await stop.focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('alertdialog', { name: 'Stop this run?' });
      await dialog.waitFor();
      expect(await focused(page)).toBe('button Stop the run');
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Tab');
        seen.push(await focused(page));
      }
      expect(seen).toEqual(['button Cancel', 'button Stop the run', 'button Cancel']);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      expect(await focused(page)).toBe('button Stop');
      expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.status).toBe('running');
      // Cancel does the same.
      await page.keyboard.press('Enter');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'detached' });
      expect(await focused(page)).toBe('button Stop');
      // Stopped, the Stop button goes: focus goes to the heading rather than nowhere.
      await page.keyboard.press('Enter');
      await dialog.getByRole('button', { name: 'Stop the run' }).press('Enter');
      await page.locator('.run-head [data-status="stopped"]').waitFor();
      await page.waitForFunction(() => document.activeElement?.matches('.run-head h2'), undefined, { timeout: 10_000 });
      expect(await focused(page)).toMatch(/^h2 ticker/);
    } finally {
      await context.close();
      await stopRun(run);
    }
  });

  it('the skip link is the first thing Tab reaches, and moves focus to the main content', async () => {
    for (const route of ['/', `/ui/runs/${runs.scan.run_id}`]) {
      const { page, context } = await open(server, route, { credential: server.adminKey });
      await page.locator('main h2').first().waitFor();
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('a Skip to content');
      expect((await page.getByRole('link', { name: 'Skip to content' }).boundingBox())?.y).toBeGreaterThanOrEqual(0); // on screen once focused
      await page.keyboard.press('Enter');
      expect(await focused(page)).toMatch(/^main#main /);
      expect(new URL(page.url()).pathname).toBe(route === '/' ? '/ui/' : route);
      await context.close();
    }
  });

  it('a link within the app moves focus to the new page’s content, as a page load would', async () => {
    const { page, context } = await open(server, '/', { credential: server.adminKey });
    await page.locator('table.runs a', { hasText: 'scan' }).first().click();
    await page.waitForURL(/\/ui\/runs\//);
    await page.waitForFunction(() => document.activeElement?.id === 'main');
    await page.getByRole('link', { name: '← Runs' }).click();
    await page.waitForURL(/\/ui\/$/);
    await page.waitForFunction(() => document.activeElement?.id === 'main');
    await context.close();
  });

  it('starting a run moves focus to the new run’s heading', async () => {
    const { page, context } = await open(server, '/', { credential: server.adminKey });
    await page.getByRole('button', { name: 'Run hello' }).click();
    await page.waitForURL(/\/ui\/runs\//);
    await page.waitForFunction(() => document.activeElement?.matches('.run-head h2'), undefined, { timeout: 10_000 });
    expect(await focused(page)).toMatch(/^h2 hello/);
    await context.close();
  });

  it('opening a parameter form focuses its first field; Cancel or Escape gives focus back to its Run button', async () => {
    const { page, context } = await open(server, '/', { credential: server.adminKey });
    for (const close of ['Cancel', 'Escape']) {
      await page.getByRole('button', { name: 'Run greet' }).click();
      const form = page.getByRole('form', { name: 'Parameters of greet' });
      await form.waitFor();
      expect(await focused(page)).toBe('input param-greet-who');
      if (close === 'Cancel') await form.getByRole('button', { name: 'Cancel' }).click();
      else await page.keyboard.press('Escape');
      await form.waitFor({ state: 'detached' });
      expect(await focused(page)).toBe('button Run greet');
    }
    await context.close();
  });
});

describe('on a phone', () => {
  const sideways = (page: Page) =>
    page.evaluate(() =>
      [document.documentElement, ...document.querySelectorAll('.table-wrap, .log-tools')].filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.className || e.tagName),
    );

  it('nothing scrolls sideways on the home page, the runs table included', async () => {
    for (let i = 0; i < 3; i++) await api(server.url, 'POST', '/set/greet', { params: { who: 'Ada Lovelace Byron King Countess' } });
    // A failure and a scan's summary among the newest (the first page): earlier screens started runs of their own.
    for (const name of ['fails', 'scan']) {
      const { run } = (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`)).body;
      await waitFor(`${name} to end`, async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.summary || name === 'fails' ? true : undefined));
    }
    const { page, context } = await open(server, '/', { credential: server.adminKey, size: 'phone' });
    await page.locator('table.runs [data-status="failed"]').first().waitFor();
    await page.locator('table.runs .summary-line').first().waitFor();
    expect(await sideways(page)).toEqual([]);
    await context.close();
  });

  it('nothing scrolls sideways on a run page, and the search arrows stay on one line', async () => {
    const run = await startTicker();
    const { page, context } = await open(server, `/ui/runs/${run.run_id}`, { credential: server.adminKey, size: 'phone' });
    try {
      await log(page).getByText('tick 3', { exact: true }).waitFor();
      await page.getByLabel('Search the log').fill('tick 1');
      await page.getByLabel('Search the log').press('Enter');
      await page.waitForFunction(() => / of \d+/.test(document.querySelector('[data-testid="match-count"]')?.textContent ?? ''));
      expect(await sideways(page)).toEqual([]);
      const tops = await Promise.all(['Find', 'Previous match', 'Next match'].map(async (name) => (await page.getByRole('button', { name, exact: true }).boundingBox())?.y));
      expect(new Set(tops).size).toBe(1);
      await page.locator('.log-tools').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(SHOTS, 'a11y-phone-search.png') });
    } finally {
      await context.close();
      await stopRun(run);
    }
  });
});
