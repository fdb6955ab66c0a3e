/**
 * What the web app's e2e files (app, access, pages) share: one browser and one server with the test
 * catalog per file, and the helpers their tests use on a page.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startServer, type TestServer } from '../../server/test/harness';
import { CATALOG, launchChromium, openPage, SHOTS } from './browser';

/** The file's browser and server, once `startBrowserAndServer` has started them. */
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

/** A fresh page; with `credential`, already signed in (as after an earlier visit). `watch` sees the page before it loads. */
export const open = (s: TestServer, route: string, credential?: string, viewport = { width: 1280, height: 900 }, watch?: (page: Page) => void) => openPage(browser, s.url + route, { credential, viewport, watch });

export const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
export const runIdOf = (page: Page) => decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
export const log = (page: Page) => page.getByRole('log', { name: 'Log output' });
