/**
 * Three tiers, run in this order by `vitest run` (`npm test`), so a fast failure shows first:
 *
 * - unit: colocated `*.test.ts` beside the code (server/src, shared, web/src). No root needed, no
 *   database server, no browser, no server started; the whole tier takes seconds.
 * - integration: server/test (the real server on port 0, real processes, SQLite, PostgreSQL, Redis)
 *   and the benchmark's smoke test.
 * - e2e: web/e2e, the web app in a real Chromium against a real server, one file at a time.
 *
 * One tier alone: `npx vitest run --project unit` (or integration, e2e).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and real processes: two files at a time fits 2 cores.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['server/src/**/*.test.ts', 'shared/**/*.test.ts', 'web/src/**/*.test.{ts,tsx}'],
          // A tier finishes before the next starts (lowest first).
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['server/test/**/*.test.ts', 'bench/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['web/e2e/**/*.test.ts'],
          sequence: { groupOrder: 2 },
          // One browser at a time: two Chromiums and their servers on 2 cores slowed app.e2e from
          // ~55 s to 128 s and timed out two of its live-list waits (30 s each).
          fileParallelism: false,
        },
      },
    ],
  },
});
