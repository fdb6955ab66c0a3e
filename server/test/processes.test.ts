import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health } from '../../shared/src/schemas/health';
import type { RunEnvelope, RunList } from '../../shared/src/schemas/run';
import { api, endRun, fetchAuthed, linesOf, processesWith, readSse, ROOT, startServer, tempDir, waitFor, type TestServer } from './harness';

const CATALOG = path.join(ROOT, 'server/test/fixtures/catalog.yaml');
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ catalogFile: CATALOG });
});
afterAll(() => server.stop());

const start = async (s: TestServer, name: string) => {
  const res = await api<RunEnvelope>(s.url, 'POST', `/set/${name}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.run;
};
const getRun = async (s: TestServer, id: string) => (await api<RunEnvelope>(s.url, 'GET', `/runs/${id}`)).body.run;

describe('stop', () => {
  it('ends the whole tree, including what ignores SIGTERM, calls setsid or detaches, and records who and why', async () => {
    const run = await start(server, 'stubborn');
    await readSse(`${server.url}/runs/${run.run_id}/logs`, {}, (e) => (e.data.includes('ready') ? false : undefined));
    await waitFor('all three processes', () => (['oss-test-stubborn', 'oss-test-grandchild', 'oss-test-detached'].every((m) => processesWith(m).length > 0) ? true : undefined));

    const t0 = Date.now();
    const stopped = await api<RunEnvelope>(server.url, 'POST', `/runs/${run.run_id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body.run).toMatchObject({ status: 'stopped', end_reason: 'stopped', signal: 'SIGKILL', requested_by: 'env:ADMIN_API_KEY', stopped_by: 'env:ADMIN_API_KEY' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // it waited out the grace period (STOP_GRACE_S=1)
    for (const marker of ['oss-test-stubborn', 'oss-test-grandchild', 'oss-test-detached']) expect(processesWith(marker), marker).toEqual([]);

    const again = await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    expect(again.status).toBe(409);
  });

  it('stops a well-behaved run with SIGTERM, without waiting for the grace period', async () => {
    const run = await start(server, 'sleeper');
    const t0 = Date.now();
    const { body } = await api<RunEnvelope>(server.url, 'POST', `/runs/${run.run_id}/stop`);
    expect(body.run).toMatchObject({ status: 'stopped', signal: 'SIGTERM' });
    expect(Date.now() - t0).toBeLessThan(900);
    expect(processesWith('oss-test-sleeper')).toEqual([]);
  });

  it('kills what is left of the tree when the main process exits by itself', async () => {
    const s = await startServer({
      catalog: `tools:\n  - name: leaves\n    cmd: ["bash", "-c", "setsid bash -c 'exec -a oss-test-orphan sleep 1000' & echo bye"]\n`,
    });
    try {
      const run = await start(s, 'leaves');
      const { events } = await readSse(`${s.url}/runs/${run.run_id}/logs`);
      expect(linesOf(events)).toEqual(['bye']);
      expect((await getRun(s, run.run_id)).status).toBe('succeeded');
      expect(processesWith('oss-test-orphan')).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});

describe('timeout', () => {
  it('ends a run that outlives its timeout_s as timed_out, the same way as a stop', async () => {
    const run = await start(server, 'slow');
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    const final = endRun(events);
    expect(final).toMatchObject({ status: 'timed_out', end_reason: 'timeout', signal: 'SIGTERM' });
    const took = Date.parse(final.finished_at ?? '') - Date.parse(final.started_at ?? '');
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(10_000);
    expect(linesOf(events)).toEqual(['start']);
    expect(processesWith('oss-test-timeout')).toEqual([]);
  });
});

describe('queueing', () => {
  it('holds runs past MAX_CONCURRENT_RUNS as queued, first in first out; a queued run can be stopped', async () => {
    const s = await startServer({ catalogFile: CATALOG, env: { MAX_CONCURRENT_RUNS: '1' } });
    try {
      const a = await start(s, 'sleeper');
      const b = await start(s, 'hello');
      const c = await start(s, 'hello');
      expect([a.status, b.status, c.status]).toEqual(['running', 'queued', 'queued']);
      const stoppedC = await api<RunEnvelope>(s.url, 'POST', `/runs/${c.run_id}/stop`);
      expect(stoppedC.body.run).toMatchObject({ status: 'stopped', started_at: null, exit_code: null });
      const sse = readSse(`${s.url}/runs/${b.run_id}/logs`);
      await api(s.url, 'POST', `/runs/${a.run_id}/stop`);
      const { events } = await sse;
      expect(linesOf(events)).toEqual(['Hello OSS Runner']);
      expect((await getRun(s, b.run_id)).status).toBe('succeeded');
      expect((await getRun(s, c.run_id)).status).toBe('stopped');
    } finally {
      await s.stop();
    }
  });
});

describe('queueing under limits', () => {
  it('never runs more than MAX_CONCURRENT_RUNS, however many starts arrive at once, and starts them first in first out', async () => {
    const s = await startServer({ catalogFile: CATALOG, env: { MAX_CONCURRENT_RUNS: '2', START_RATE_PER_MINUTE: '1000' } });
    try {
      const blockers = await Promise.all([start(s, 'sleeper'), start(s, 'sleeper')]);
      const queued = await Promise.all(Array.from({ length: 6 }, () => start(s, 'hello')));
      expect(queued.every((r) => r.status === 'queued')).toBe(true);
      const counts = (await api<Health>(s.url, 'GET', '/health')).body.runs ?? { running: -1, queued: -1 };
      expect([counts.running, counts.queued]).toEqual([2, 6]);
      for (const b of blockers) await api(s.url, 'POST', `/runs/${b.run_id}/stop`);
      const done = await waitFor('the queue to drain', async () => {
        const runs = await Promise.all(queued.map((r) => getRun(s, r.run_id)));
        return runs.every((r) => r.status === 'succeeded') ? runs : undefined;
      });
      // The server's own order of creation (newest first in its list), and start times that follow it.
      const created = (await api<RunList>(s.url, 'GET', '/runs?name=hello&limit=10')).body.items.map((r) => r.run_id).reverse();
      const startedAt = new Map(done.map((r) => [r.run_id, Date.parse(r.started_at ?? '')]));
      const starts = created.map((id) => startedAt.get(id) ?? NaN);
      // Taken from the queue in order; the two slots' launches may finish in either order, so each run
      // starts after the run two places before it.
      expect(starts.every((t, i) => i < 2 || t >= (starts[i - 2] ?? 0))).toBe(true);
    } finally {
      await s.stop();
    }
  });

  it('holds a tool to its own concurrency without holding back other tools', async () => {
    const first = await start(server, 'single');
    const second = await start(server, 'single');
    const other = await start(server, 'hello');
    expect([first.status, second.status, other.status]).toEqual(['running', 'queued', 'running']);
    await api(server.url, 'POST', `/runs/${first.run_id}/stop`);
    await waitFor('the second to start', async () => ((await getRun(server, second.run_id)).status === 'running' ? true : undefined));
    await api(server.url, 'POST', `/runs/${second.run_id}/stop`);
  });
});

describe('crash recovery', () => {
  it('after kill -9 of the server, no process of its runs lives on and the next start marks them lost, logs intact', async () => {
    const logDir = tempDir();
    const first = await startServer({ catalogFile: CATALOG, logDir });
    const run = await start(first, 'stubborn');
    await readSse(`${first.url}/runs/${run.run_id}/logs`, {}, (e) => (e.data.includes('ready') ? false : undefined));
    await waitFor('the run to be up', () => (processesWith('oss-test-grandchild').length ? true : undefined));
    await first.crash();
    await waitFor('the run processes to die with the server', () => (['oss-test-stubborn', 'oss-test-grandchild', 'oss-test-detached'].every((m) => processesWith(m).length === 0) ? true : undefined), 5000);

    const second = await startServer({ catalogFile: CATALOG, logDir });
    try {
      expect(second.output()).toMatch(/1 run\(s\) were going .* marked lost/);
      const lost = await getRun(second, run.run_id);
      // What the tool wrote, intact, then a line that says why the log ends there.
      const why = 'oss-runner: the server stopped while this run was going; its processes were ended (the run is lost)';
      const log = `ready\n${why}\n`;
      expect(lost).toMatchObject({ status: 'lost', end_reason: 'lost', log_bytes: Buffer.byteLength(log) });
      expect(lost.finished_at).not.toBeNull();
      expect(await (await fetchAuthed(`${second.url}/runs/${run.run_id}/log`)).text()).toBe(log);
      const { events } = await readSse(`${second.url}/runs/${run.run_id}/logs`);
      expect(linesOf(events)).toEqual(['ready', why]);
      expect(events.at(-1)?.event).toBe('end');
      expect((await api<Health>(second.url, 'GET', '/health')).body.runs?.lost).toBe(1);
    } finally {
      await second.stop();
    }
  });
});

describe('the log cap', () => {
  it('keeps the head and the tail of a 200 MB output with a marker; the tool runs to its end', async () => {
    const run = await start(server, 'flood');
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    const final = endRun(events);
    expect(final).toMatchObject({ status: 'succeeded', exit_code: 0, log_truncated: true });
    expect(final.log_bytes).toBeLessThan(1048576 + 200);
    const lines = linesOf(events);
    const line = (n: number) => String(n).padStart(80, '0');
    expect(lines.slice(0, 3)).toEqual([line(1), line(2), line(3)]);
    expect(lines.at(-1)).toBe(line(2_500_000));
    const marker = lines.findIndex((l) => l.startsWith('[oss-runner: the log is capped at 1048576 bytes'));
    expect(marker).toBeGreaterThan(1000);
    expect(lines[marker + 1]).toMatch(/^\d{80}$/);
    const raw = await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text();
    expect(raw.length).toBe(final.log_bytes);
  });
});

describe('a reader that stalls', () => {
  it('neither grows server memory with the output nor slows the tool or other readers', async () => {
    const rssBefore = server.rss();
    const run = await start(server, 'four-million');
    // A reader that sends its request and then never reads: the socket buffers fill up, then it waits.
    const { hostname, port } = new URL(server.url);
    const stalled = net.connect(Number(port), hostname);
    await once(stalled, 'connect');
    stalled.write(`GET /runs/${run.run_id}/logs HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${server.adminKey}\r\n\r\n`);
    stalled.pause();
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 20);
    const other = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    await waitFor('the run to finish', async () => ((await getRun(server, run.run_id)).status === 'succeeded' ? true : undefined), 60_000);
    clearInterval(sampler);
    expect(linesOf(other.events)).toHaveLength(4_000_000);
    const size = (await getRun(server, run.run_id)).log_bytes;
    expect(size).toBe(324_000_000);
    // 324 MB went through while one reader held on to nothing: a server that kept the output would grow
    // by all of it. Since chunks' forms are written into pooled buffers (issue 19) the server grows by
    // 4-14 MiB here (0.014-0.045 of the output, three runs on Node 24, 2026-12-07); before, by 173-210 MB
    // (0.56-0.65: two new Buffers per chunk, freed only by full collections).
    expect(peak - rssBefore).toBeLessThan(size * 0.25);
    expect(stalled.bytesRead).toBeLessThan(10 * 1024 * 1024);
    stalled.destroy();
  });
});

describe('catalog', () => {
  // Each refusal, entry by entry and field by field, is checked on the loader itself
  // (server/src/services/catalog.test.ts, config.test.ts); here, that start-up stops on one.
  it('refuses to start with a bad catalog, saying what is wrong, before it opens the database', async () => {
    const refusal = async (opts: { catalog?: string; catalogFile?: string }) => {
      const dir = tempDir();
      const message = await startServer({ ...opts, logDir: dir }).then(
        async (s) => (await s.stop(), 'started'),
        (e: Error) => e.message,
      );
      return { message, db: existsSync(path.join(dir, 'oss-runner.db')) };
    };
    // Two servers that must refuse to start: at once, as a busy machine takes a while for each.
    const [badEntry, missing] = await Promise.all([
      refusal({ catalog: 'tools:\n  - name: ok\n    cmd: [echo]\n  - name: broken\n    cmd: "echo hi"\n' }),
      refusal({ catalogFile: path.join(tempDir(), 'nope.yaml') }),
    ]);
    expect(badEntry.message).toMatch(/tool #2 "broken", field cmd: .*array/);
    expect(missing.message).toMatch(/cannot read/);
    expect([badEntry.db, missing.db]).toEqual([false, false]);
  });
});
