/**
 * A full disk and a run's disk limit, on a real file system: LOG_DIR on a small tmpfs (mounted for
 * the test: this needs root, as CI has) that a tool fills with its own files. Every run still reaches
 * a final state, its log says where it was cut, stop never answers 500, starts answer 503 with
 * Retry-After while /ready fails, and the server works again once space is freed.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health, Readiness } from '../../shared/src/schemas/health';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, rawLog, runToEnd, startServerOnSmallDisk, waitFor, type TestServer } from './harness';

const CATALOG = `
tools:
  - name: hello
    cmd: ["echo", "hello"]
  - name: filler
    description: fills the disk with its own file, then prints more than the full disk takes
    cmd:
      - bash
      - -c
      - |
        echo filling
        sleep 0.5
        head -c 200000000 /dev/zero > fill 2>/dev/null
        echo "fill stopped at $(stat -c %s fill) bytes"
        for i in $(seq 1 20000); do echo "output line $i after the disk filled up"; done
        exit 1
  - name: hoarder
    description: writes into its work and artifact directories until stopped
    cmd:
      - bash
      - -c
      - |
        for i in $(seq 1 200); do
          head -c 300000 /dev/zero > "$1/a$i"
          head -c 300000 /dev/zero > "w$i"
          sleep 0.05
        done
        echo finished
      - hoarder
      - "{{artifacts}}"
    limits: { disk_bytes: 3MiB }
`;

const FINAL = ['succeeded', 'failed', 'stopped', 'timed_out', 'lost'];

describe('a full disk', () => {
  let mount: string;
  let server: TestServer;
  let stop: () => Promise<void>;

  beforeAll(async () => ({ server, mount, stop } = await startServerOnSmallDisk(48, CATALOG, { READY_MIN_FREE_BYTES: '4MiB' })));
  afterAll(() => stop?.());

  it('a run that fills it ends failed, saying so; its log is marked truncated with a note; starts answer 503 until space is freed', async () => {
    const started = await api<RunEnvelope>(server.url, 'POST', '/set/filler');
    expect(started.status).toBe(200);
    const runId = started.body.run.run_id;

    const ended = await waitFor('the run to reach a final state', async () => {
      const { body } = await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`);
      return FINAL.includes(body.run.status) ? body.run : undefined;
    }, 30_000);
    expect(ended).toMatchObject({ status: 'failed', log_truncated: true });
    expect(ended.error).toMatch(/disk .*full/i);

    // Stopping a run that has ended is a conflict, never a 500, even before its record could be written.
    const stop = await api<{ message: string }>(server.url, 'POST', `/runs/${runId}/stop`);
    expect(stop.status, JSON.stringify(stop.body)).toBe(409);

    // /ready fails for lack of space, and so a start is refused as "not now", not as a server error.
    const ready = await api<Readiness>(server.url, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.disk.ok).toBe(false);
    const refused = await api<{ message: string }>(server.url, 'POST', '/set/hello');
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body.message).toMatch(/not ready|disk|space/i);

    // Space freed: the record of the run lands, its log ends with the note, and a new run works.
    rmSync(path.join(server.logDir, 'work', runId, 'fill'));
    await waitFor('the final record to reach the database', () => {
      const db = new Database(path.join(server.logDir, 'oss-runner.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT status, log_truncated FROM runs WHERE run_id = ?').get(runId) as { status: string; log_truncated: number } | undefined;
        return row?.status === 'failed' && row.log_truncated === 1 ? true : undefined;
      } finally {
        db.close();
      }
    }, 30_000);
    const log = (await rawLog(server.url, runId)).toString();
    expect(log).toContain('filling');
    expect(log).toMatch(/\[oss-runner: the disk is full[^\n]*left out[^\n]*\]\n$/);
    const final = (await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`)).body.run;
    expect(final.log_bytes).toBe(Buffer.byteLength(log));

    expect((await api(server.url, 'GET', '/ready')).status).toBe(200);
    const { run, lines } = await runToEnd(server.url, 'hello');
    expect(run.status).toBe('succeeded');
    expect(lines).toEqual(['hello']);
  }, 90_000);

  it('while /ready fails for lack of space, a start answers 503 with Retry-After, not 500; with space back it starts', async () => {
    const filler = path.join(mount, 'filler');
    const { free_bytes } = (await api<Health>(server.url, 'GET', '/health')).body.log_dir;
    writeFileSync(filler, Buffer.alloc(free_bytes - 2 * 1024 * 1024)); // 2 MiB left, under READY_MIN_FREE_BYTES
    expect((await api(server.url, 'GET', '/ready')).status).toBe(503);
    const refused = await api<{ message: string }>(server.url, 'POST', '/set/hello');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body.message).toMatch(/not ready to start runs \(GET \/ready\): disk: only \d+ bytes free, less than READY_MIN_FREE_BYTES/);
    rmSync(filler);
    expect((await runToEnd(server.url, 'hello')).run.status).toBe('succeeded');
  }, 30_000);

  it('a run over its disk limit (work directory and artifacts together) is stopped, saying so', async () => {
    const health = (await api<Health>(server.url, 'GET', '/health')).body;
    expect(health.limits.disk).toMatchObject({ enforced: true });
    const { run } = await runToEnd(server.url, 'hoarder');
    expect(run).toMatchObject({ status: 'failed', end_reason: 'disk_limit', outcome: null });
    expect(run.limits?.disk_bytes).toBe(3 * 1024 * 1024);
    expect(run.error).toMatch(/disk limit of 3145728 bytes/);
    const log = (await rawLog(server.url, run.run_id)).toString();
    expect(log).not.toContain('finished');
    expect(log).toMatch(/oss-runner: .*disk limit/);
    const stop = await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    expect(stop.status).toBe(409);
    expect((await api<RunEnvelope>(server.url, 'GET', `/runs/${(await runToEnd(server.url, 'hello')).run.run_id}`)).body.run.status).toBe('succeeded');
  }, 60_000);
});
