/**
 * What running in production needs: readiness, against a real file system that fills up or turns
 * read-only (a small tmpfs mounted for the test: this needs root, as CI has). Every server here runs
 * built, as `npm start` and the image run it (dist/server, no tsx), and so do the CLIs at the end.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health, Readiness } from '../../shared/src/schemas/health';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, builtEntry, fetchAuthed, runToEnd, startServer, startServerOnSmallDisk, tempDir, trpcSseClient, waitFor, type TestServer } from './harness';

const HELLO = 'tools:\n  - name: hello\n    cmd: ["echo", "hello"]\n';

describe('/ready', () => {
  let mount: string;
  let server: TestServer;
  let stop: () => Promise<void>;

  beforeAll(async () => ({ server, mount, stop } = await startServerOnSmallDisk(32, HELLO, { READY_MIN_FREE_BYTES: '8MiB' }, { built: true })));
  afterAll(() => stop?.());

  it('is ready, and /health reports the free space', async () => {
    const ready = await api<Readiness>(server.url, 'GET', '/ready', undefined, { authorization: '' });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, checks: { database: { ok: true }, log_dir_writable: { ok: true }, disk: { ok: true, min_free_bytes: 8 * 1024 * 1024 } } });
    const { body } = await api<Health>(server.url, 'GET', '/health');
    expect(body.log_dir.total_bytes).toBe(32 * 1024 * 1024);
    expect(body.log_dir.free_bytes).toBeGreaterThan(24 * 1024 * 1024);
  });

  it('fails when the disk is nearly full, and again when the log directory is read-only', async () => {
    writeFileSync(path.join(mount, 'filler'), Buffer.alloc(26 * 1024 * 1024));
    const full = await api<Readiness>(server.url, 'GET', '/ready');
    expect(full.status).toBe(503);
    expect(full.body.checks.disk).toMatchObject({ ok: false, error: expect.stringMatching(/less than READY_MIN_FREE_BYTES/) as unknown });
    expect(full.body.checks.log_dir_writable.ok).toBe(true);

    // A read-only bind mount over the directory: the server's open files stay as they are, new writes fail.
    execFileSync('mount', ['--bind', server.logDir, server.logDir]);
    execFileSync('mount', ['-o', 'remount,bind,ro', server.logDir]);
    const readOnly = await api<Readiness>(server.url, 'GET', '/ready');
    expect(readOnly.status).toBe(503);
    expect(readOnly.body.checks.log_dir_writable).toMatchObject({ ok: false, error: expect.stringMatching(/read-only file system/i) as unknown });
    expect((await api(server.url, 'GET', '/health')).status).toBe(200); // still alive
    execFileSync('umount', [server.logDir]);
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM: refuses starts with 503, ends live streams, lets a run finish within the grace, stops the other, exits 0', async () => {
    const catalog = 'tools:\n  - name: short\n    cmd: ["bash", "-c", "echo begun; sleep 1; echo done"]\n  - name: sleeper\n    cmd: ["bash", "-c", "echo started; exec sleep 600"]\n';
    const server = await startServer({ catalog, env: { SHUTDOWN_GRACE_S: '3', STOP_GRACE_S: '1' }, built: true });
    const short = (await api<RunEnvelope>(server.url, 'POST', '/set/short')).body.run;
    const sleeper = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;

    // Three live streams on the sleeper: SSE, tRPC over WebSocket, tRPC over its own SSE transport.
    const sse = await fetchAuthed(`${server.url}/runs/${sleeper.run_id}/logs`);
    const sseText = sse.text();
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/trpc`);
    const wsMessages: unknown[] = [];
    const wsClosed = new Promise<number>((resolve) => ws.addEventListener('close', (event) => resolve(event.code), { once: true }));
    ws.addEventListener('message', (event) => wsMessages.push(JSON.parse(String(event.data))));
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    ws.send(JSON.stringify({ method: 'connectionParams', data: { token: server.adminKey } }));
    ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: 'runs.logs', input: { run_id: sleeper.run_id } } }));
    const sseClient = trpcSseClient(server.url);
    let trpcSseEnded = false;
    sseClient.runs.logs.subscribe({ run_id: sleeper.run_id }, { onComplete: () => (trpcSseEnded = true), onError: () => (trpcSseEnded = true) });
    await waitFor('the WebSocket subscription to deliver', () => (wsMessages.length >= 2 ? true : undefined));

    server.proc.kill('SIGTERM');
    await waitFor('the shutdown to begin', () => (server.output().includes('SIGTERM') ? true : undefined));
    const refused = await api<{ message: string }>(server.url, 'POST', '/set/short');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.body.message).toMatch(/shutting down/);
    const ready = await api<{ ready: boolean; stopping?: boolean }>(server.url, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, stopping: true });

    expect(await sseText).toMatch(/retry: 3000\n\n$/); // ended between events, asking to come back later
    expect(await wsClosed).toBe(1001);
    expect(wsMessages).toContainEqual({ id: null, method: 'reconnect' });
    await waitFor('the tRPC SSE subscription to end', () => (trpcSseEnded ? true : undefined));

    expect(await server.exited).toBe(0);
    const db = new Database(path.join(server.logDir, 'oss-runner.db'), { readonly: true });
    const status = (id: string) => db.prepare('SELECT status, end_reason FROM runs WHERE run_id = ?').get(id);
    expect(status(short.run_id)).toEqual({ status: 'succeeded', end_reason: 'exit' });
    expect(status(sleeper.run_id)).toEqual({ status: 'stopped', end_reason: 'shutdown' });
    db.close();
  });
});

describe('metrics and logs', () => {
  it('serves Prometheus metrics that move with runs, streams and failed logins; one JSON log line per request and run event', async () => {
    const server = await startServer({ catalog: HELLO, env: { METRICS_PORT: '0', TRUSTED_PROXIES: '127.0.0.1' }, built: true });
    try {
      const metricsUrl = /metrics on (http:\/\/\S+\/metrics)/.exec(server.output())?.[1] ?? '';
      const scrape = async () => (await fetch(metricsUrl)).text(); // the metrics port needs no credential
      const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      const before = await scrape();
      expect(value(before, 'oss_runner_runs_total{tool="hello",status="succeeded"}')).toBeNaN();
      expect(before).toMatch(/^nodejs_eventloop_lag_seconds /m);
      expect(before).toMatch(/^process_resident_memory_bytes /m);

      // As if through two proxies, the nearer one trusted: the caller is the first untrusted hop from the right.
      const { body } = await api<RunEnvelope>(server.url, 'POST', '/set/hello', undefined, { 'x-request-id': 'test-request-1', 'x-forwarded-for': '203.0.113.7, 10.0.0.1' });
      await (await fetchAuthed(`${server.url}/runs/${body.run.run_id}/logs`)).text();
      await api(server.url, 'GET', '/runs', undefined, { authorization: 'Bearer not-a-key' });
      const after = await scrape();
      expect(value(after, 'oss_runner_runs_total{tool="hello",status="succeeded"}')).toBe(1);
      expect(value(after, 'oss_runner_run_duration_seconds_count{tool="hello",status="succeeded"}')).toBe(1);
      expect(value(after, 'oss_runner_log_bytes_streamed_total{transport="sse"}')).toBe(6); // "hello\n"
      expect(value(after, 'oss_runner_log_subscribers{transport="sse"}')).toBe(0);
      expect(value(after, 'oss_runner_auth_failures_total')).toBe(value(before, 'oss_runner_auth_failures_total') + 1);
      expect(value(after, 'oss_runner_runs_running')).toBe(0);
      expect(value(after, 'oss_runner_queue_depth')).toBe(0);

      // On the main port, /metrics needs a credential with METRICS_ROLE (viewer).
      expect((await api(server.url, 'GET', '/metrics', undefined, { authorization: '' })).status).toBe(401);
      const viaMain = await fetchAuthed(`${server.url}/metrics`);
      expect(viaMain.status).toBe(200);
      expect(viaMain.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);

      const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.req_id === 'test-request-1')).toMatchObject({ level: 'info', msg: 'request', method: 'POST', path: '/set/hello', status: 200, ip: '10.0.0.1' });
      expect(lines.find((l) => l.event === 'run.ended')).toMatchObject({ run_id: body.run.run_id, tool: 'hello', status: 'succeeded', exit_code: 0 });
      expect(server.output()).not.toContain(server.adminKey);
    } finally {
      await server.stop();
    }
  });
});

describe('built', () => {
  it('summarizes a report in a worker thread of its own (dist/server/summary-worker.js)', async () => {
    const report = JSON.stringify({ SchemaVersion: 2, Results: [{ Target: 'x', Vulnerabilities: [{ VulnerabilityID: 'CVE-2024-0001', PkgName: 'p', InstalledVersion: '1', Severity: 'HIGH' }] }] });
    const cmd = ['bash', '-c', `printf '%s' '${report}' > "$1/report.json"`, 'scan', '{{artifacts}}'];
    const catalog = `tools:\n  - name: scan\n    cmd: ${JSON.stringify(cmd)}\n    artifacts: [{ name: report.json, report: trivy }]\n`;
    const server = await startServer({ catalog, built: true });
    try {
      const { run } = await runToEnd(server.url, 'scan');
      expect(run).toMatchObject({ status: 'succeeded', summary: { findings: { high: 1 } } });
    } finally {
      await server.stop();
    }
  });

  it('runs the CLIs: a key made by `apikey` opens the server; `tools list` reads the pins', async () => {
    const run = promisify(execFile);
    const logDir = tempDir();
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_DIR: logDir };
    const { stdout } = await run(process.execPath, [builtEntry('apikey'), 'create', '--name', 'ci', '--role', 'operator'], { env });
    const key = stdout.trim().split('\n').at(-1) ?? '';
    expect(key).toMatch(/^osr_/);
    const server = await startServer({ catalog: HELLO, logDir, env: { ADMIN_API_KEY: '' }, built: true });
    try {
      expect((await api<{ role: string }>(server.url, 'GET', '/me', undefined, { authorization: `Bearer ${key}` })).body).toMatchObject({ role: 'operator' });
    } finally {
      await server.stop();
    }
    const tools = await run(process.execPath, [builtEntry('tools'), 'list'], { env: { ...env, TOOLS_DIR: tempDir() } });
    expect(tools.stdout).toMatch(/trivy.*not installed/);
  });
});
