/**
 * Behind nginx (Debian's, started here in front of the server): SSE arrives as it is written,
 * heartbeats keep a quiet stream past nginx's read timeout, and the tRPC WebSocket works through it.
 * The nginx configuration is the one the README documents.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, freePort, linesOf, readSse, startServer, tempDir, trpcClient, waitFor, type TestServer } from './harness';

const CATALOG = `
tools:
  - name: ticker
    description: a line every 100 ms for three seconds
    cmd: ["bash", "-c", "for i in $(seq 1 30); do echo tick$i; sleep 0.1; done"]
  - name: quiet
    description: says one thing, then nothing for a while
    cmd: ["bash", "-c", "echo hush; sleep 6; echo bye"]
`;

/** The server block the README recommends, with nginx's defaults otherwise (read timeout shortened to 3 s here). */
const nginxConf = (dir: string, listen: number, upstream: string) => `
daemon off;
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id $request_id;
      proxy_read_timeout 3s;
    }
  }
}
`;

let server: TestServer;
let nginx: ChildProcess;
let proxied: string;

beforeAll(async () => {
  server = await startServer({ catalog: CATALOG, env: { SSE_HEARTBEAT_S: '1' } });
  const dir = tempDir('oss-runner-nginx-');
  mkdirSync(path.join(dir, 'tmp'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, port, server.url));
  nginx = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' });
  proxied = `http://127.0.0.1:${port}`;
  await waitFor('nginx to listen', async () => (await fetch(`${proxied}/health`).then((r) => r.ok, () => false)) || undefined);
});
afterAll(async () => {
  nginx?.kill('SIGTERM');
  await server?.stop();
});

/** The admin key, sent explicitly: the helpers add it only for the server's own URL. */
const auth = () => ({ authorization: `Bearer ${server.adminKey}` });
const start = async (name: string) => (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`)).body.run;
const status = async (id: string) => (await api<RunEnvelope>(server.url, 'GET', `/runs/${id}`)).body.run.status;

describe('behind nginx', () => {
  it('passes SSE through as it is written, every line once', async () => {
    const run = await start('ticker');
    let firstLineWhile: string | undefined;
    const { status: code, events } = await readSse(`${proxied}/runs/${run.run_id}/logs`, auth(), (e) => {
      if (!firstLineWhile && !e.event) void status(run.run_id).then((s) => (firstLineWhile ??= s));
    });
    expect(code).toBe(200);
    expect(linesOf(events)).toEqual(Array.from({ length: 30 }, (_, i) => `tick${i + 1}`));
    await waitFor('the status check', () => firstLineWhile);
    expect(firstLineWhile).toBe('running'); // not held back until the end by nginx's buffering
  });

  it('keeps a quiet stream open past nginx’s read timeout with heartbeats', async () => {
    const run = await start('quiet');
    const { events } = await readSse(`${proxied}/runs/${run.run_id}/logs`, auth());
    // Six quiet seconds against a 3 s proxy_read_timeout: the stream lasted to the run's end.
    expect(linesOf(events)).toEqual(['hush', 'bye']);
    expect(events.at(-1)?.event).toBe('end');
  });

  it('carries the tRPC WebSocket, with the proxy’s request id on plain requests', async () => {
    const run = await start('ticker');
    const { client, close } = trpcClient(proxied, server.adminKey);
    try {
      const lines: string[] = [];
      await new Promise<void>((resolve, reject) => {
        client.runs.logs.subscribe(
          { run_id: run.run_id },
          {
            onData: ({ data }) => {
              if (data.type === 'lines') lines.push(...data.lines);
              else resolve();
            },
            onError: reject,
          },
        );
      });
      expect(lines).toHaveLength(30);
    } finally {
      await close();
    }
    const res = await fetch(`${proxied}/health`);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id, passed through
  });
});
