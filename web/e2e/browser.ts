/**
 * What every browser test shares: Debian's Chromium driven by playwright-core (CHROMIUM_PATH points
 * elsewhere), the test catalog, where screenshots go, and a browser and a server per file.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { ROOT, startServer, type TestServer } from '../../server/test/harness';

export const CATALOG = path.join(ROOT, 'web/e2e/catalog.yaml');
export const SHOTS = path.join(ROOT, 'test-results/screenshots');

/** Chromium headless, as the brief launches it; the screenshots' folder made. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

export interface OpenOptions {
  /** Already signed in with it (as after an earlier visit). */
  credential?: string | undefined;
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** Sees the page before it loads (requests, WebSockets). */
  watch?: ((page: Page) => void) | undefined;
}

/** A fresh page at `url` in a context of its own; an error thrown in the page fails the test. */
export async function openPage(browser: Browser, url: string, { credential, viewport = { width: 1280, height: 900 }, colorScheme = 'light', watch }: OpenOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport, colorScheme });
  if (credential) await context.addInitScript((c) => localStorage.setItem('oss-runner.credential', c), credential);
  const page = await context.newPage();
  page.on('pageerror', (e) => {
    throw e;
  });
  watch?.(page);
  await page.goto(url);
  return page;
}

/** The file's browser and server (with the test catalog), once `startBrowserAndServer` has started them. */
export let browser: Browser;
export let server: TestServer;

/** Starts the file's browser and server before its tests, and stops them after: call once, at the top of a file. */
export function startBrowserAndServer(): void {
  beforeAll(async () => {
    browser = await launchChromium();
    server = await startServer({ catalogFile: CATALOG });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
}
