/**
 * Issue 18: a single server or a fleet's API node is chosen once, in main.ts, which imports the fleet's
 * wiring (BullMQ, ioredis, server/src/fleet/) only when REDIS_URL is set. A single server, running a
 * tool, never loads it, from its TypeScript or built (where the wiring is a chunk of its own); an API
 * node does (so the check sees what it should). Issue 19 (an idle server small): a server on SQLite
 * does not load `pg` either, which only the stores in PostgreSQL import.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fleetBase } from './fleetHarness';
import { ROOT, runToEnd, startServer, tempDir } from './harness';

const CATALOG = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n';

/** Starts a server that logs every module it loads; answers the log's file. */
async function serverLoading(env: Record<string, string>, work: (url: string) => Promise<void>, built = false): Promise<string[]> {
  const moduleLog = path.join(tempDir(), 'modules.log');
  const server = await startServer({ catalog: CATALOG, env: { ...env, NODE_OPTIONS: `--import ${path.join(ROOT, 'server/test/fixtures/moduleLog.ts')}`, MODULE_LOG: moduleLog }, built });
  try {
    await work(server.url);
  } finally {
    await server.stop();
  }
  return readFileSync(moduleLog, 'utf8').split('\n');
}

const fleetWiring = (urls: string[]) => [...new Set(urls.flatMap((u) => /\/node_modules\/(bullmq|ioredis|pg)\/|\/server\/src\/(fleet\/\w+)\.ts/.exec(u)?.slice(1).filter(Boolean) ?? []))].sort();

describe('the fleet wiring', () => {
  const runHello = async (url: string) => {
    const { run, lines } = await runToEnd(url, 'hello');
    expect([run.status, lines]).toEqual(['succeeded', ['hello']]);
  };

  it('is never loaded by a single server, not even to run a tool', async () => {
    const loaded = await serverLoading({}, runHello);
    expect(loaded.some((u) => u.endsWith('/server/src/services/runs/localDispatcher.ts'))).toBe(true);
    expect(fleetWiring(loaded)).toEqual([]);
  });

  it('is never loaded by a single server built to JavaScript', async () => {
    const loaded = await serverLoading({}, runHello, true);
    expect(loaded.some((u) => u.endsWith('/dist/server/main.js'))).toBe(true);
    expect(loaded.some((u) => u.includes('/server/src/'))).toBe(false);
    expect(fleetWiring(loaded)).toEqual([]);
  });

  it("is loaded by a fleet's API node", async () => {
    const base = await fleetBase({}, { redis: 'machine' });
    try {
      const loaded = await serverLoading(base.env, () => Promise.resolve());
      expect(fleetWiring(loaded)).toEqual(expect.arrayContaining(['bullmq', 'ioredis', 'pg', 'fleet/apiNode', 'fleet/fleetDispatcher', 'fleet/logMirror']));
      expect(fleetWiring(loaded)).not.toContain('fleet/logPublisher');
    } finally {
      await base.close();
    }
  });
});
