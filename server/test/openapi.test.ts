/**
 * The API document and the server agree, and outside tools keep them so: Schemathesis (from PyPI,
 * through .ci/schemathesis) fuzzes every operation of GET /openapi.json with an admin key and with no
 * key, with every check it has (no 5xx, each status and content type documented, each body matching
 * its schema, valid input accepted and invalid input refused...), and Redocly lints the document
 * (redocly.yaml). Their summaries are printed; anything they find fails the test, with their report.
 * The findings of the tools, before they were fixed, are pinned down one by one below.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../../shared/src/schemas/error';
import type { Health } from '../../shared/src/schemas/health';
import { api, ROOT, startServer, tempDir, type TestServer } from './harness';

/** One tool per kind of answer: a run that ends, every type of parameter, a path, an artifact, a run to stop, a tool not installed. */
const CATALOG = `
tools:
  - name: hello
    description: says hello
    cmd: ["echo", "hello"]
  - name: typed
    description: one parameter of each type but path
    cmd: ["echo", "{{target}}", "--count={{count}}", "--level={{level}}", "{{verbose}}", "--tags={{tags}}", "--note={{note}}"]
    params:
      target: { type: string, pattern: "^[a-z0-9.-]{1,63}$", required: true, description: a host name }
      count: { type: integer, min: 1, max: 10, default: 3 }
      level: { type: enum, values: [low, high], default: low }
      verbose: { type: boolean, flag: "--verbose" }
      tags: { type: multi, values: [a, b, c], default: [a] }
      note: { type: string, max_length: 40 }
  - name: scan
    description: lists a directory of the test fixtures into an artifact
    cmd: ["find", "{{dir}}", "-maxdepth", "1", "-fprint", "{{artifacts}}/listing.txt"]
    params:
      dir: { type: path, roots: ["${path.join(ROOT, 'server/test/fixtures')}"], required: true }
    artifacts: [{ name: listing.txt }]
  - name: sleeper
    description: runs for two seconds, long enough to be stopped
    cmd: ["sleep", "2"]
  - name: missing
    description: a program that is not installed
    cmd: ["oss-runner-no-such-program"]
`;

const SCHEMATHESIS = path.join(ROOT, '.ci/schemathesis');
const SCHEMATHESIS_CONFIG = path.join(ROOT, 'server/test/schemathesis.toml');
/** The CLI at this version: the devDependency when installed, else fetched once into npm's cache. */
const REDOCLY = ['npx', '--yes', '@redocly/cli@2.77.0'];
/** Each fuzzing run's wall-clock bound: it is stopped, and fails, past it. */
const FUZZ_LIMIT_MS = 150_000;

interface Ran {
  code: number | null;
  output: string;
  ms: number;
}

/** Runs a command to its end (or SIGKILLs its process group at `limitMs`), with both outputs together. */
function run(cmd: string, args: string[], opts: { cwd: string; limitMs: number; env?: Record<string, string> }): Promise<Ran> {
  const started = Date.now();
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => {
    output += `\n[stopped after ${opts.limitMs / 1000} s]\n`;
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, opts.limitMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

/**
 * The lines of `output` from the first one matching `from` on: what CI's log should show. Without
 * Schemathesis's pytest-style rules (`=== 1 warning in 14.76s ===`): whatever reads CI's log took such a
 * line, which counts no test, for the suite's own result.
 */
const tail = (output: string, from: RegExp) => {
  const lines = output.split('\n');
  const at = lines.findIndex((l) => from.test(l));
  return lines
    .slice(at < 0 ? -30 : at)
    .filter((l) => !/^=+ .* =+$/.test(l.trim()))
    .join('\n')
    .trim();
};

let server: TestServer;
/** Where Schemathesis may leave its .hypothesis/ and .schemathesis/ directories. */
let workDir: string;

beforeAll(async () => {
  // Rate limits high enough for a fuzzer: they would turn most answers into 429s (the limits have tests of their own).
  server = await startServer({ catalog: CATALOG, env: { AUTH_FAILURES_PER_MINUTE: '1000000', START_RATE_PER_MINUTE: '1000000' } });
  workDir = tempDir('oss-runner-schemathesis-');
  // Makes the virtual environment when it is missing (about a minute, once per machine): not part of a fuzzing run's bound.
  const installed = await run(SCHEMATHESIS, ['--version'], { cwd: workDir, limitMs: 300_000 });
  expect(installed.code, installed.output).toBe(0);
}, 330_000);

afterAll(async () => {
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Fuzzes the whole document as the caller `headers` say; fails with Schemathesis's report when it finds anything. */
async function fuzz(who: string, headers: string[]): Promise<void> {
  const args = ['--config-file', SCHEMATHESIS_CONFIG, '--no-color', 'run', `${server.url}/openapi.json`, ...headers.flatMap((h) => ['-H', h])];
  const result = await run(SCHEMATHESIS, args, { cwd: workDir, limitMs: FUZZ_LIMIT_MS });
  const summary = tail(result.output, /=+ (WARNINGS|SUMMARY) =+/);
  console.log(`Schemathesis, ${who} (${(result.ms / 1000).toFixed(0)} s):\n${summary}`);
  expect(result.code, tail(result.output, /=+ FAILURES =+|=+ SUMMARY =+/)).toBe(0);
  // Every operation of the document was tried.
  const selected = /Selected: (\d+)\/(\d+)/.exec(summary);
  expect(selected?.[1], summary).toBe(selected?.[2]);
  expect(/Tested: (\d+)/.exec(summary)?.[1], summary).toBe(selected?.[2]);
}

// The two runs at once: on two cores the server and two fuzzers share them better than one after the other.
describe.concurrent('Schemathesis against GET /openapi.json', () => {
  it('finds nothing with an admin key', () => fuzz('with an admin key', [`Authorization: Bearer ${server.adminKey}`]), FUZZ_LIMIT_MS + 10_000);

  it('finds nothing with no key', () => fuzz('with no key', []), FUZZ_LIMIT_MS + 10_000);
});

describe('Redocly', () => {
  it('lints the document clean: no error, no warning', async () => {
    const file = path.join(workDir, 'openapi.json');
    writeFileSync(file, JSON.stringify((await api(server.url, 'GET', '/openapi.json')).body, null, 2));
    const result = await run(REDOCLY[0] ?? 'npx', [...REDOCLY.slice(1), 'lint', '--config', path.join(ROOT, 'redocly.yaml'), '--format', 'stylish', file], {
      cwd: ROOT,
      limitMs: 120_000,
      env: { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
    const summary = tail(result.output, /validated in|Validation failed|Woohoo/);
    console.log(`Redocly lint (${(result.ms / 1000).toFixed(0)} s):\n${summary}`);
    expect(result.code, result.output).toBe(0);
    expect(result.output, result.output).not.toMatch(/warning/i);
  }, 130_000);
});

interface Operation {
  security?: unknown[];
  requestBody?: { required?: boolean; content: Record<string, { schema: { required?: string[] } }> };
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

describe('what the outside tools found, each fixed', () => {
  const start = (body: string) => api<ApiError>(server.url, 'POST', '/set/hello', body, { 'content-type': 'application/json' });
  const total = async () => (await api<Health>(server.url, 'GET', '/health')).body.runs?.total;

  it('a body of null, 5, true, [] or a string is a 400 naming the body, and starts nothing', async () => {
    const before = await total();
    for (const body of ['null', '5', 'true', '[]', '["params"]', '"x"']) {
      const res = await start(body);
      expect(res.status, body).toBe(400);
      expect(res.body.message, body).toMatch(/^body: must be a JSON object/);
    }
    expect(await total()).toBe(before);
  });

  it('names each unknown field on its own, in the message and in issues[]', async () => {
    const top = await start('{"a": 1, "b": 2}');
    expect(top.status).toBe(400);
    expect(top.body.message).toBe('a: unknown field; b: unknown field');
    expect(top.body.issues).toEqual([
      { path: 'a', message: 'unknown field' },
      { path: 'b', message: 'unknown field' },
    ]);
    const params = await api<ApiError>(server.url, 'POST', '/set/typed', { params: { target: 'x', zz: 1, yy: 2, count: 99 } });
    expect(params.status).toBe(400);
    expect(params.body.issues?.map((i) => i.path)).toEqual(['params.count', 'params.zz', 'params.yy']);
    expect(params.body.message).toMatch(/^params\.count: .*; params\.zz: unknown parameter .*; params\.yy: unknown parameter/);
  });

  it('documents every error as the Error body it is, with issues[] of {path, message}', async () => {
    const doc = (await api<Document>(server.url, 'GET', '/openapi.json')).body;
    expect(doc.components.schemas.Error).toMatchObject({ properties: { issues: { items: { properties: { path: { type: 'string' }, message: { type: 'string' } } } } } });
    expect(Object.keys(doc.components.schemas).filter((name) => name.startsWith('error.'))).toEqual([]);
    for (const [route, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) >= 400 && !(route === '/ready' && status === '503')) expect(response.content?.['application/json']?.schema?.$ref, `${method} ${route} ${status}`).toBe('#/components/schemas/Error');
        }
      }
    }
    // Not ready is an answer of its own, with the checks that failed.
    expect(doc.paths['/ready']?.get?.responses['503']?.content?.['application/json']?.schema).toMatchObject({ properties: { ready: { type: 'boolean' } } });
  });

  it('lists 401, 403, 429 for protected operations, 413 and 415 where a body is read, and security: [] on public ones', async () => {
    const doc = (await api<Document>(server.url, 'GET', '/openapi.json')).body;
    const statuses = (route: string, method: string) => Object.keys(doc.paths[route]?.[method]?.responses ?? {});
    expect(statuses('/set/{name}', 'post')).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '409', '413', '415', '429']));
    expect(statuses('/set/typed', 'post')).toEqual(expect.arrayContaining(['200', '400', '401', '403', '409', '413', '415', '429']));
    expect(statuses('/runs/{run_id}/stop', 'post')).toEqual(expect.arrayContaining(['401', '403', '404', '409', '413', '415', '429']));
    expect(statuses('/runs', 'get')).toEqual(expect.arrayContaining(['400', '401', '403', '429']));
    for (const route of ['/health', '/opensource-list', '/me', '/ready']) expect(doc.paths[route]?.get?.security, route).toEqual([]);
  });

  it('requires a start body only where the tool has a required parameter', async () => {
    const doc = (await api<Document>(server.url, 'GET', '/openapi.json')).body;
    expect(doc.paths['/set/{name}']?.post?.requestBody?.required).toBe(false);
    expect(doc.paths['/set/hello']?.post?.requestBody?.required).toBe(false);
    expect(doc.paths['/set/typed']?.post?.requestBody?.required).toBe(true);
    expect(doc.paths['/set/typed']?.post?.requestBody?.content['application/json']?.schema.required).toEqual(['params']);
    // And the server agrees: no body starts hello, and typed without its parameter is a 400 naming it.
    expect((await api(server.url, 'POST', '/set/hello')).status).toBe(200);
    const typed = await api<ApiError>(server.url, 'POST', '/set/typed');
    expect(typed.status).toBe(400);
    expect(typed.body.message).toMatch(/^params\.target: /);
  });

  it('answers a method the document does not list on a path it does with 405 and Allow', async () => {
    for (const [method, route, allow] of [
      ['PATCH', '/health', 'GET, HEAD'],
      ['DELETE', '/set/hello', 'POST'],
      ['PUT', '/runs/some-run', 'GET, HEAD'],
      ['POST', '/runs/some-run/log', 'GET, HEAD'],
    ] as const) {
      const res = await api<ApiError>(server.url, method, route);
      expect(res.status, `${method} ${route}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${route}`).toBe(allow);
      expect(res.body.message).toMatch(new RegExp(`^method ${method} not allowed`));
    }
    expect((await api(server.url, 'PATCH', '/no-such-path')).status).toBe(404);
  });

  it('refuses a malformed last_event_id even beside a good Last-Event-ID', async () => {
    const run = (await api<{ run: { run_id: string } }>(server.url, 'POST', '/set/hello')).body.run;
    const res = await api<ApiError>(server.url, 'GET', `/runs/${run.run_id}/logs?last_event_id=AAA`, undefined, { 'last-event-id': '0' });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^last_event_id: /);
  });
});
