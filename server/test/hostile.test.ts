/**
 * Clients that misbehave, on purpose or not: nothing one request does can end the server. Each case
 * talks raw HTTP over a TCP socket, as an attacker's script would, then the server must still answer
 * /health and run a tool.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AuditList } from '../../shared/src/schemas/auth';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, runToEnd, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';

let server: TestServer;
let port: number;

beforeAll(async () => {
  const catalog = [
    'tools:',
    '  - name: hello',
    '    cmd: ["echo", "Hello OSS Runner"]',
    '  - name: sleeper',
    '    cmd: ["bash", "-c", "echo started; exec sleep 600"]',
    '  - name: chatty',
    '    cmd: ["seq", "1", "200000"]',
  ].join('\n');
  server = await startServer({ catalog, env: { WS_MESSAGES_PER_MINUTE: '50', HTTP_HEADERS_TIMEOUT_S: '2', AUDIT_COALESCE_S: '1', AUDIT_MAX_ROWS: '40', RETENTION_INTERVAL_S: '1' } });
  port = Number(new URL(server.url).port);
});

afterAll(async () => {
  await server.stop();
});

/** Opens a TCP connection to the server. */
async function connect(): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined); // the server may close first: that is what some cases expect
  return socket;
}

/**
 * What the server sends on `socket` until it has sent an answer's head (with `head`), closes the
 * connection, or `ms` pass.
 */
function answer(socket: net.Socket, { head = true, ms = 10_000 } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (head && text.includes('\r\n\r\n')) done(false);
    });
    socket.once('close', () => done(true));
  });
}

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const auth = () => `Authorization: Bearer ${server.adminKey}\r\n`;

/** Sends a POST with a chunked body of `bytes` zero bytes, in 64 KiB chunks, and answers the status. */
async function chunkedPost(path: string, bytes: number): Promise<number> {
  const socket = await connect();
  const got = answer(socket);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length) {
    const size = Math.min(chunk.length, bytes - sent);
    socket.write(`${size.toString(16)}\r\n`);
    socket.write(chunk.subarray(0, size));
    socket.write('\r\n');
  }
  if (!socket.destroyed) socket.end('0\r\n\r\n');
  const { text } = await got;
  socket.destroy();
  return statusOf(text);
}

/** The server is alive and well: /health answers and a tool runs to its end. */
async function stillServing(): Promise<void> {
  expect(server.proc.exitCode).toBeNull();
  expect((await api(server.url, 'GET', '/health')).status).toBe(200);
  const { run, lines } = await runToEnd(server.url, 'hello');
  expect(run.status).toBe('succeeded');
  expect(lines).toEqual(['Hello OSS Runner']);
}

describe('a hostile or careless client', () => {
  it('gets 413 for a chunked body over the limit, on any path, and the server stays up', async () => {
    const over = 1024 * 1024 + 70_000;
    for (const path of ['/set/hello', '/api-keys', '/runs/x/stop', '/trpc/runs.start', '/no/such/path']) {
      const status = await chunkedPost(path, over);
      expect([path, status]).toEqual([path, 413]);
    }
    await stillServing();
  });

  it('gets 413 for a declared Content-Length over the limit, before sending it', async () => {
    const socket = await connect();
    const got = answer(socket);
    socket.write(`POST /set/hello HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n{`);
    expect(statusOf((await got).text)).toBe(413);
    socket.destroy();
    await stillServing();
  });

  it('sends JSON nested 10,000 levels deep: 400, on REST and tRPC alike', async () => {
    const deep = (inner: string) => `{"name":"hello","params":${'['.repeat(10_000)}${inner}${']'.repeat(10_000)}}`;
    const post = (path: string) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` }, body: deep('') });
    const rest = await post('/set/hello');
    expect(rest.status).toBe(400);
    expect(((await rest.json()) as { message: string }).message).toMatch(/^body: nested deeper than/);
    expect((await post('/trpc/runs.start')).status).toBe(400);
    await stillServing();
  });

  it('cuts its body short, or vanishes in the middle of a request', async () => {
    const cases = [
      `POST /set/hello HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"params":`,
      `POST /set/hello HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"par`,
      `POST /trpc/runs.start HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"name":`,
      `POST /api-keys HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      `GET /runs HTTP/1.1\r\nHost: x\r\n${auth()}X-Half-A-Hea`,
    ];
    for (const request of cases) {
      const socket = await connect();
      socket.write(request);
      await sleep(50);
      socket.destroy();
    }
    await sleep(200);
    await stillServing();
  });

  it('vanishes in the middle of a response: a live stream, a raw log, a long list', async () => {
    const sleeper = (await api<RunEnvelope>(server.url, 'POST', '/set/sleeper')).body.run;
    const chatty = (await api<RunEnvelope>(server.url, 'POST', '/set/chatty')).body.run;
    for (const path of [`/runs/${sleeper.run_id}/logs`, `/runs/${chatty.run_id}/logs`, `/runs/${chatty.run_id}/log`, '/runs?limit=100']) {
      const socket = await connect();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      socket.resetAndDestroy(); // an RST, as when a client's machine goes away
    }
    expect((await api(server.url, 'POST', `/runs/${sleeper.run_id}/stop`)).status).toBe(200);
    await stillServing();
  });

  it('floods a WebSocket with messages: closed (1008) past WS_MESSAGES_PER_MINUTE', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/trpc`);
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (event) => resolve(event.code), { once: true }));
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    for (let id = 1; id <= 200 && ws.readyState === WebSocket.OPEN; id++) ws.send(JSON.stringify({ id, method: 'query', params: { path: 'health.get', input: {} } }));
    expect(await closed).toBe(1008);
    await stillServing();
  });

  it('floods the headers: 431, and the server stays up', async () => {
    const socket = await connect();
    const got = answer(socket);
    const flood = Array.from({ length: 5000 }, (_, i) => `X-Flood-${i}: ${'a'.repeat(20)}\r\n`).join('');
    socket.write(`GET /health HTTP/1.1\r\nHost: x\r\n${flood}\r\n`);
    expect(statusOf((await got).text)).toBe(431);
    socket.destroy();
    await stillServing();
  });

  it('sends its headers slowly: the connection is closed after HTTP_HEADERS_TIMEOUT_S', async () => {
    const socket = await connect();
    const got = answer(socket, { head: false, ms: 15_000 });
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.destroyed || socket.write('X-Slow: 1\r\n'), 300);
    const t0 = Date.now();
    const { closed, text } = await got;
    clearInterval(drip);
    expect(closed).toBe(true);
    expect(statusOf(text)).toBe(408);
    expect(Date.now() - t0).toBeLessThan(6000);
    await stillServing();
  });
});

describe('a flood of refused requests', () => {
  /** The audit records of `action` refused, newest first. */
  const refusals = async (action: string) => (await api<AuditList>(server.url, 'GET', `/audit?action=${action}&outcome=denied&limit=100`)).body.items;

  /** A tRPC batch of `n` runs.stop mutations without a credential. */
  const batch = (n: number) =>
    fetch(`${server.url}/trpc/${Array(n).fill('runs.stop').join(',')}?batch=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { run_id: 'x' }]))),
    });

  it('refuses a tRPC batch past TRPC_MAX_BATCH, and writes repeated refusals once with their count', async () => {
    const over = await batch(1300);
    expect(over.status).toBe(400);
    expect(JSON.stringify(await over.json())).toContain('Batch call exceeds maximum size');
    expect(await refusals('runs.stop')).toEqual([]);

    const full = await batch(50);
    expect((await full.json()) as unknown[]).toHaveLength(50);
    const first = await refusals('runs.stop');
    expect(first.map((r) => r.count)).toEqual([1]);
    // The other 49, once the window (AUDIT_COALESCE_S=1) is over: one record.
    const all = await waitFor('the repeats to be written', async () => {
      const records = await refusals('runs.stop');
      return records.length === 2 ? records : undefined;
    });
    expect(all.map((r) => r.count)).toEqual([49, 1]);
    expect(all[0]).toMatchObject({ actor: null, detail: first[0]?.detail });
  });

  it('records a failed sign-in once, not again for what it tried', async () => {
    const before = (await refusals('auth')).length;
    expect((await api(server.url, 'GET', '/runs', undefined, { authorization: `Bearer osr_ffffffffffff_${'x'.repeat(43)}` })).status).toBe(401);
    const after = await refusals('auth');
    expect(after.length).toBe(before + 1);
    expect(after[0]?.detail).toMatch(/invalid credentials/);
    expect(await refusals('runs.list')).toEqual([]);
  });

  it('prunes the audit log by age (AUDIT_RETENTION_DAYS) and by size (AUDIT_MAX_ROWS)', async () => {
    const db = new Database(path.join(server.logDir, 'oss-runner.db'));
    try {
      db.prepare("INSERT INTO audit (at, actor, ip, action, run_id, outcome, detail, count) VALUES ('2001-01-01T00:00:00.000Z', null, '10.0.0.1', 'ancient', null, 'denied', 'from long ago', 1)").run();
    } finally {
      db.close();
    }
    for (let i = 0; i < 45; i++) await api(server.url, 'POST', `/runs/no-such-run-${i}/stop`);
    await waitFor('the audit log to be pruned', async () => {
      const { items } = (await api<AuditList>(server.url, 'GET', '/audit?limit=500')).body;
      return items.length <= 40 && !items.some((r) => r.action === 'ancient') ? true : undefined;
    });
  });
});

describe('another user of the machine', () => {
  it('can read nothing the server keeps, even in a LOG_DIR made 0755 (as mkdir -p does) holding a database made 0644', async () => {
    const logDir = path.join(tempDir(), 'logs');
    mkdirSync(logDir, { mode: 0o755 });
    writeFileSync(path.join(logDir, 'oss-runner.db'), '', { mode: 0o644 });
    const catalogFile = writeCatalog(tempDir(), 'tools:\n  - name: hello\n    cmd: ["echo", "Hello OSS Runner"]\n');
    const own = await startServer({ logDir, catalogFile });
    try {
      expect(own.output()).toMatch(/LOG_DIR .* is open to other users of this machine \(mode 755\): chmod 700 it/);
      expect((await runToEnd(own.url, 'hello')).run.status).toBe('succeeded');
      /** Every file and directory under LOG_DIR, with its permission bits and group. */
      const walk = (dir: string): [string, number, number][] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
          const p = path.join(dir, e.name);
          const { mode, gid } = statSync(p);
          return [[path.relative(logDir, p), mode & 0o777, gid] as [string, number, number], ...(e.isDirectory() ? walk(p) : [])];
        });
      const entries = walk(logDir);
      expect(entries.map(([p]) => p)).toEqual(expect.arrayContaining(['oss-runner.db', 'oss-runner.db-wal', 'runs']));
      // Nothing for others; for a group only the server's own (a run's directories, owned by the tools'
      // user, let the server's group in: bubblewrap, root without capabilities, enters them).
      const open = entries.filter(([, mode, gid]) => mode & 0o007 || (mode & 0o070 && gid !== process.getgid?.())).map(([p, mode]) => `${p} ${mode.toString(8)}`);
      expect(open).toEqual([]);
    } finally {
      await own.stop();
    }
  });
});
