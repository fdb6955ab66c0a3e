/**
 * ALLOWED_ORIGINS: named browser origins may call REST and the SSE log stream with credential
 * headers (CORS); other origins, and every origin by default, get no CORS headers and a 403 preflight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchAuthed, runToEnd, startServer, type TestServer } from './harness';

const ALLOWED = 'https://app.example.com';
const REFUSED = 'https://evil.example.com';
const CATALOG = `
tools:
  - name: hello
    description: says hello
    cmd: ["bash", "-c", "echo 'Hello OSS Runner'"]
`;

let server: TestServer;
let plain: TestServer;
beforeAll(async () => {
  [server, plain] = await Promise.all([startServer({ catalog: CATALOG, env: { ALLOWED_ORIGINS: `${ALLOWED}, http://localhost:5173` } }), startServer({ catalog: CATALOG })]);
});
afterAll(() => Promise.all([server?.stop(), plain?.stop()]));

const preflight = (base: string, path: string, origin: string, method = 'GET') =>
  fetch(base + path, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization,idempotency-key,last-event-id,content-type' } });

describe('ALLOWED_ORIGINS (CORS)', () => {
  it('a preflight from an allowed origin is answered 204 with the credential headers allowed', async () => {
    for (const [path, method] of [['/runs', 'GET'], ['/set/hello', 'POST'], ['/runs/x/logs', 'GET']] as const) {
      const res = await preflight(server.url, path, ALLOWED, method);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-methods')).toContain(method);
      const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
      expect(allowed).toEqual(expect.arrayContaining(['authorization', 'idempotency-key', 'last-event-id', 'content-type']));
      expect(res.headers.get('vary')).toContain('Origin');
    }
  });

  it('a preflight from another origin is refused (403, no CORS headers)', async () => {
    const res = await preflight(server.url, '/runs', REFUSED);
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await res.json()) as { message: string }).message).toContain(REFUSED);
  });

  it('REST and SSE answers carry the allowed origin, and no other', async () => {
    const { run } = await runToEnd(server.url, 'hello');
    const list = await fetchAuthed(`${server.url}/runs`, { headers: { Origin: ALLOWED } });
    expect(list.status).toBe(200);
    expect(list.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(list.headers.get('access-control-expose-headers')).toContain('Retry-After');
    const sse = await fetchAuthed(`${server.url}/runs/${run.run_id}/logs`, { headers: { Origin: ALLOWED, 'Last-Event-ID': '0' } });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    expect(sse.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(await sse.text()).toContain('Hello OSS Runner');
    const other = await fetchAuthed(`${server.url}/runs`, { headers: { Origin: REFUSED } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('none by default', async () => {
    expect((await preflight(plain.url, '/runs', ALLOWED)).status).toBe(403);
    const res = await fetchAuthed(`${plain.url}/runs`, { headers: { Origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
