/**
 * What the web app's e2e files (app, access, pages) share: the helpers their tests use on a page of
 * the file's browser and server (browser.ts).
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { TestServer } from '../../server/test/harness';
import { browser, openPage, SHOTS } from './browser';

/** A fresh page; with `credential`, already signed in (as after an earlier visit). `watch` sees the page before it loads. */
export const open = (s: TestServer, route: string, credential?: string, viewport = { width: 1280, height: 900 }, watch?: (page: Page) => void) => openPage(browser, s.url + route, { credential, viewport, watch });

export const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
export const runIdOf = (page: Page) => decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
export const log = (page: Page) => page.getByRole('log', { name: 'Log output' });
