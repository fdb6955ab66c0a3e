/**
 * Issue 21, item 6: two servers sharing one LOG_DIR are refused at start-up (each would take the
 * other's running runs for its own leftovers, and both write one database). The lock is a file naming
 * its holder; one left by a process that is gone (killed, or its pid now someone else's) is taken over.
 * Real servers, two at a time; a fleet's workers are checked in issue-21-fleet.test.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { api, startServer, tempDir, type TestServer } from './harness';

const CATALOG = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n';

/** Starts a server on `logDir`; answers it, or the message it exited with. */
const tryStart = (logDir: string): Promise<TestServer | string> => startServer({ catalog: CATALOG, logDir }).catch((e: Error) => e.message);

describe('one LOG_DIR, one server', () => {
  it('a second server on the same LOG_DIR refuses to start, naming LOG_DIR and the holder; the first goes on', async () => {
    const logDir = tempDir();
    const first = await startServer({ catalog: CATALOG, logDir });
    try {
      const second = await tryStart(logDir);
      expect(typeof second).toBe('string');
      expect(second).toContain(`LOG_DIR ${logDir} is in use by a single server (pid ${first.proc.pid} on host ${hostname()}`);
      expect(second).toContain('two servers must not share one LOG_DIR');
      expect((await api(first.url, 'GET', '/health')).status).toBe(200);
      const lock = JSON.parse(readFileSync(path.join(logDir, 'server.lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(first.proc.pid);
    } finally {
      await first.stop();
    }
    // A clean stop gives the locks back.
    expect(['server.lock', 'worker.lock'].filter((f) => existsSync(path.join(logDir, f)))).toEqual([]);
  });

  it('the lock of a server killed with SIGKILL is taken over by the next start', async () => {
    const logDir = tempDir();
    const killed = await startServer({ catalog: CATALOG, logDir });
    await killed.crash();
    expect(existsSync(path.join(logDir, 'server.lock'))).toBe(true);
    const next = await startServer({ catalog: CATALOG, logDir });
    try {
      expect(next.output()).toMatch(new RegExp(`took over the server lock of a single server \\(pid ${killed.proc.pid}, since [^)]+\\), which is no longer running`));
      expect((JSON.parse(readFileSync(path.join(logDir, 'server.lock'), 'utf8')) as { pid: number }).pid).toBe(next.proc.pid);
    } finally {
      await next.stop();
    }
  });

  it('a lock naming a live pid that started at another time (a reused pid) is taken over; one from another host, or unreadable, is refused', async () => {
    const logDir = tempDir();
    const file = path.join(logDir, 'server.lock');
    // This test process is alive, but did not start at clock tick 1: the pid has been reused since.
    writeFileSync(file, JSON.stringify({ pid: process.pid, host: hostname(), role: 'a single server', since: '2020-01-01T00:00:00.000Z', started: '1', token: 'old' }));
    const reused = await startServer({ catalog: CATALOG, logDir });
    await reused.stop();
    expect(reused.output()).toContain(`took over the server lock of a single server (pid ${process.pid}`);

    writeFileSync(file, JSON.stringify({ pid: 4242, host: 'elsewhere.example', role: 'an API node', since: '2020-01-01T00:00:00.000Z', token: 'remote' }));
    const refused = await tryStart(logDir);
    expect(refused).toContain(`LOG_DIR ${logDir} is in use by an API node (pid 4242 on host elsewhere.example`);
    expect(refused).toContain(`if it is gone, delete ${file}`);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token).toBe('remote');

    // Not a lock this server could have written (a disk that filled as it was written, say): said, not guessed at.
    writeFileSync(file, '');
    expect(await tryStart(logDir)).toContain(`LOG_DIR ${logDir} has a lock file that cannot be read (${file}): delete it once no server uses this LOG_DIR`);
  });
});
