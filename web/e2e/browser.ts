/**
 * What every browser test shares: Debian's Chromium driven by playwright-core (CHROMIUM_PATH points
 * elsewhere), the test catalog, and where screenshots go.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from '../../server/test/harness';

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
