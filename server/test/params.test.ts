import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '../../shared/src/schemas/error';
import type { Health } from '../../shared/src/schemas/health';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, endRun, fetchAuthed, readSse, runToEnd, startServer, tempDir, type TestServer } from './harness';

let server: TestServer;
const root = tempDir('oss-runner-roots-');
const code = path.join(root, 'code');

beforeAll(async () => {
  mkdirSync(path.join(code, 'app'), { recursive: true });
  writeFileSync(path.join(code, 'app', 'main.js'), '');
  symlinkSync('/etc', path.join(code, 'escape'));
  server = await startServer({
    catalog: `tools:
  - name: show
    description: prints each argv element on its own line
    cmd: ["printf", "%s\\\\n", "{{target}}", "--severity={{severity}}", "{{debug}}", "--scanners={{scanners}}", "{{count}}", "{{path}}", "{{anything}}"]
    params:
      target:   { type: string, pattern: "^[a-z0-9.-]+$", max_length: 253, required: true, description: a host name }
      severity: { type: enum, values: [LOW, MEDIUM, HIGH, CRITICAL], default: HIGH }
      debug:    { type: boolean, flag: "--debug" }
      scanners: { type: multi, values: [vuln, secret, misconfig], default: [vuln] }
      count:    { type: integer, min: 1, max: 10 }
      path:     { type: path, roots: ["${code}"] }
      anything: { type: string }
  - name: graded
    description: exits with the code it is given
    cmd: ["bash", "-c", "exit \\"$1\\"", "graded", "{{code}}"]
    params:
      code: { type: integer, min: 0, max: 255, required: true }
    outcome: { success: [0], findings: [1] }
  - name: redos
    cmd: ["echo", "{{word}}"]
    params:
      word: { type: string, pattern: "^(a+)+$", required: true }
  - name: scripted
    description: runs what it is given, as its entry says it may
    cmd: ["bash", "-c", "{{script}}"]
    allow_code_injection: true
    params:
      script: { type: string, required: true }
`,
  });
});
afterAll(() => server.stop());

const start = (params: unknown) => api<RunEnvelope & ApiError>(server.url, 'POST', '/set/show', { params });
async function argvOf(run: Run): Promise<string[]> {
  await readSse(`${server.url}/runs/${run.run_id}/logs`);
  return (await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text()).split('\n').slice(0, -1);
}

describe('typed parameters', () => {
  it('places each value as exactly one argv element, defaults filled in', async () => {
    const { status, body } = await start({ target: 'example.com' });
    expect(status).toBe(200);
    expect(body.run.params).toEqual({ target: 'example.com', severity: 'HIGH', debug: false, scanners: ['vuln'] });
    expect(body.run.cmd).toEqual(['printf', '%s\\n', 'example.com', '--severity=HIGH', '--scanners=vuln']);
    expect(await argvOf(body.run)).toEqual(['example.com', '--severity=HIGH', '--scanners=vuln']);
  });

  it('never hands out the server’s data directory through a path parameter', async () => {
    const dataDir = path.join(code, 'data');
    mkdirSync(dataDir, { recursive: true });
    const inside = await startServer({ logDir: dataDir, catalog: `tools:\n  - name: cat\n    cmd: ["cat", "{{file}}"]\n    params:\n      file: { type: path, roots: ["${code}"], required: true }\n` });
    try {
      for (const file of ['data/oss-runner.db', 'data', '.']) {
        const refused = await api<ApiError>(inside.url, 'POST', '/set/cat', { params: { file } });
        expect(refused.status, file).toBe(400);
        expect(refused.body.message).toMatch(/^params\.file: .* is, or holds, the server's data directory$/);
      }
      expect((await api(inside.url, 'POST', '/set/cat', { params: { file: 'app/main.js' } })).status).toBe(200);
    } finally {
      await inside.stop();
    }
  });

  it('takes every kind: string, enum, boolean flag, multi-select, integer, path', async () => {
    const { body } = await start({ target: 'a.b', severity: 'LOW', debug: true, scanners: ['secret', 'vuln'], count: 3, path: 'app/main.js', anything: '$(id); rm -rf / `id` "quoted" spaces too' });
    expect(body.run.cmd).toEqual([
      'printf',
      '%s\\n',
      'a.b',
      '--severity=LOW',
      '--debug',
      '--scanners=secret,vuln',
      '3',
      path.join(code, 'app', 'main.js'),
      '$(id); rm -rf / `id` "quoted" spaces too',
    ]);
    // Nothing reached a shell: the tool got the text itself.
    expect((await argvOf(body.run)).at(-1)).toBe('$(id); rm -rf / `id` "quoted" spaces too');
  });

  it('matches patterns in linear time: one that backtracks catastrophically in JavaScript answers at once', async () => {
    const refused = await api<ApiError>(server.url, 'POST', '/set/redos', { params: { word: `${'a'.repeat(1000)}b` } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/^params\.word: must match/);
    expect((await api(server.url, 'POST', '/set/redos', { params: { word: 'aaaa' } })).status).toBe(200);
  });

  it('runs a parameter as code only for an entry that says allow_code_injection', async () => {
    const { run, lines } = await runToEnd(server.url, 'scripted', { script: 'echo from the script' });
    expect(run.status).toBe('succeeded');
    expect(lines).toEqual(['from the script']);
  });

  it('refuses bad values with a 400 naming the parameter, and starts nothing', async () => {
    const before = (await api<Health>(server.url, 'GET', '/health')).body.runs?.total;
    const refused: [unknown, RegExp][] = [
      [{}, /^params\.target: /],
      [{ target: '$(id)' }, /^params\.target: must match/],
      [{ target: 'a; rm -rf /' }, /^params\.target: must match/],
      [{ target: 'x'.repeat(254) }, /^params\.target: /],
      [{ target: 'a', anything: '--output=/etc/passwd' }, /^params\.anything: must not begin with "-"/],
      [{ target: 'a', anything: 'a\u0000b' }, /^params\.anything: must not contain control characters/],
      [{ target: 'a', anything: 'line\nbreak' }, /^params\.anything: must not contain control characters/],
      [{ target: 'a', anything: 'c1\u0085control' }, /^params\.anything: must not contain control characters \(U\+0085\)/],
      [{ target: 'a', anything: 'lone \ud800 half' }, /^params\.anything: must not contain control characters \(U\+D800\)/],
      ...['\u202e', '\u202a', '\u2066', '\u2069', '\u200b', '\u200d', '\ufeff', '\u2028', '\u2029'].map(
        (c): [unknown, RegExp] => [{ target: 'a', anything: `evil${c}txt.exe` }, new RegExp(`^params\\.anything: must not contain invisible or direction-changing characters \\(U\\+${c.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')}\\)`)],
      ),
      [{ target: 'a', path: 'app\u202e.js' }, /^params\.path: must not contain invisible or direction-changing characters/],
      [{ target: 'a', anything: 'y'.repeat(1_000_000) }, /^params\.anything: /],
      [{ target: 'a', severity: 'EXTREME' }, /^params\.severity: /],
      [{ target: 'a', scanners: ['vuln', 'vuln'] }, /^params\.scanners: must not name a value twice/],
      [{ target: 'a', scanners: ['rootkit'] }, /^params\.scanners\.0: /],
      [{ target: 'a', count: 11 }, /^params\.count: /],
      [{ target: 'a', count: '3' }, /^params\.count: /],
      [{ target: 'a', debug: 'yes' }, /^params\.debug: /],
      [{ target: 'a', path: '../../etc/passwd' }, /^params\.path: .* is not under /],
      [{ target: 'a', path: '/etc/passwd' }, /^params\.path: .* is not under /],
      [{ target: 'a', path: 'escape/passwd' }, /^params\.path: .* is not under /],
      [{ target: 'a', path: 'app/missing.js' }, /^params\.path: .* does not exist/],
      [{ target: 'a', path: '-rf' }, /^params\.path: must not begin with "-"/],
      [{ target: 'a', extra: 1 }, /^params\.extra: unknown parameter/],
    ];
    for (const [params, message] of refused) {
      const res = await start(params);
      expect(res.status, JSON.stringify(params).slice(0, 80)).toBe(400);
      expect(res.body.message).toMatch(message);
    }
    const proto = await api<ApiError>(server.url, 'POST', '/set/show', '{"params":{"target":"a","__proto__":{"polluted":true}}}', { 'content-type': 'application/json' });
    expect(proto.status).toBe(400);
    expect(proto.body.message).toMatch(/^params\.__proto__: unknown parameter/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await api<Health>(server.url, 'GET', '/health')).body.runs?.total).toBe(before);
  });

  it('publishes each tool’s parameters as JSON Schema', async () => {
    const { body } = await api<ToolList>(server.url, 'GET', '/opensource-list');
    const schema = body.items.find((t) => t.name === 'show')?.params as { properties: Record<string, Record<string, unknown>>; required: string[]; additionalProperties: boolean };
    expect(schema.required).toEqual(['target']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.target).toMatchObject({ type: 'string', maxLength: 253, pattern: '^[a-z0-9.-]+$', description: 'a host name' });
    expect(schema.properties.severity).toMatchObject({ enum: ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], default: 'HIGH' });
    expect(schema.properties.debug).toMatchObject({ type: 'boolean', default: false });
    expect(schema.properties.scanners).toMatchObject({ type: 'array', items: { enum: ['vuln', 'secret', 'misconfig'] }, uniqueItems: true });
    expect(schema.properties.count).toMatchObject({ type: 'integer', minimum: 1, maximum: 10 });
    expect(schema.properties.path).toMatchObject({ type: 'string', format: 'path', 'x-roots': [code] });
  });
});

describe('the OpenAPI document', () => {
  it('documents each tool’s parameters on its own start path', async () => {
    const { body } = await api<{ paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: { properties: { params: { required: string[] } } } }> } } }>; components: { schemas: Record<string, unknown> } }>(server.url, 'GET', '/openapi.json');
    const show = body.paths['/set/show']?.post;
    expect(show?.requestBody?.content['application/json']?.schema.properties.params.required).toEqual(['target']);
    expect(body.paths['/set/{name}']?.post).toBeDefined();
    for (const ref of JSON.stringify(body).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) expect(body.components.schemas[ref[1] ?? ''], ref[1]).toBeDefined();
  });
});

describe('outcome', () => {
  it('reads exit codes by the tool’s rules: success, findings, error', async () => {
    const grade = async (c: number) => {
      const { body } = await api<RunEnvelope>(server.url, 'POST', '/set/graded', { params: { code: c } });
      const { events } = await readSse(`${server.url}/runs/${body.run.run_id}/logs`);
      return endRun(events);
    };
    expect(await grade(0)).toMatchObject({ status: 'succeeded', outcome: 'success', exit_code: 0 });
    expect(await grade(1)).toMatchObject({ status: 'succeeded', outcome: 'findings', exit_code: 1 });
    expect(await grade(2)).toMatchObject({ status: 'failed', outcome: 'error', exit_code: 2 });
  });
});
