/**
 * The command-line client (`npx oss-runner`, built as production runs it) against a real server: its
 * commands, its exit codes, JSON output, and a follow that survives a dropped connection with no line
 * lost or repeated.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/src/schemas/run';
import { builtEntry, freePort, ROOT, startServer, waitFor, type TestServer } from './harness';
import { tcpRelay } from './tcpRelay';

const CATALOG = `
tools:
  - name: hello
    description: says hello
    cmd: ["bash", "-c", "echo 'Hello OSS Runner'"]
  - name: fail
    description: exits 3
    cmd: ["bash", "-c", "echo failing; exit 3"]
  - name: sleeper
    description: sleeps until stopped
    cmd: ["bash", "-c", "echo started; exec sleep 600"]
  - name: slow
    description: outlives its timeout
    cmd: ["bash", "-c", "echo start; exec sleep 60"]
    timeout_s: 1
  - name: count
    description: prints n1..n<count>
    cmd: ["bash", "-c", "for i in $(seq 1 \\"$1\\"); do echo n$i; done", "count", "{{count}}"]
    params:
      count: { type: integer, min: 1, max: 100, required: true }
  - name: drip
    description: 80 numbered lines over about eight seconds
    cmd: ["bash", "-c", "for i in $(seq 1 80); do echo drip$i; sleep 0.1; done"]
`;

let server: TestServer;
let cliJs: string;

beforeAll(async () => {
  cliJs = builtEntry('oss-runner');
  server = await startServer({ catalog: CATALOG });
});
afterAll(() => server?.stop());

interface Cli {
  stdout(): string;
  stderr(): string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Runs the CLI with OSS_RUNNER_URL and OSS_RUNNER_KEY for the test server (`env` may change them). */
function cli(args: string[], env: Record<string, string> = {}, entry = cliJs): Cli {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, OSS_RUNNER_URL: server.url, OSS_RUNNER_KEY: server.adminKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { stdout: () => stdout, stderr: () => stderr, done };
}

const jsonLines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; run?: Run; lines?: string[]; id?: string });

describe('oss-runner run --follow: exit codes', () => {
  it('succeeded: the log on stdout, the summary on stderr, exit 0', async () => {
    const { code, stdout, stderr } = await cli(['run', 'hello', '--follow']).done;
    expect(stdout).toBe('Hello OSS Runner\n');
    expect(stderr).toMatch(/run \S+ \(hello\) succeeded \(exit 0, outcome success\)/);
    expect(code).toBe(0);
  });

  it("failed: the tool's own exit code", async () => {
    const { code, stdout } = await cli(['run', 'fail', '-f']).done;
    expect(stdout).toBe('failing\n');
    expect(code).toBe(3);
  });

  it('timed out: 69', async () => {
    expect((await cli(['run', 'slow', '--follow']).done).code).toBe(69);
  });

  it('stopped (by `oss-runner stop`): 68, with JSON lines from start to end', async () => {
    const follower = cli(['run', 'sleeper', '--follow', '--json']);
    await waitFor('the sleeper to start', () => follower.stdout().includes('started'));
    const runId = jsonLines(follower.stdout())[0]?.run?.run_id ?? '';
    const stop = await cli(['stop', runId]).done;
    expect(stop.stdout).toBe(`run ${runId} stopped\n`);
    expect(stop.code).toBe(0);
    const { code, stdout } = await follower.done;
    const docs = jsonLines(stdout);
    expect(docs.map((d) => d.type)).toEqual(['start', 'lines', 'end']);
    expect(docs[1]?.lines).toEqual(['started']);
    expect(docs[2]?.run?.status).toBe('stopped');
    expect(code).toBe(68);
    // A second stop is refused: the run has ended (409).
    expect((await cli(['stop', runId]).done).code).toBe(65);
  });

  it('refused starts: 65, with the server message', async () => {
    const unknown = await cli(['run', 'no-such-tool', '--follow']).done;
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toMatch(/404/);
    const bad = await cli(['run', 'count', '--param', 'count=500']).done;
    expect(bad.code).toBe(65);
    expect(bad.stderr).toMatch(/params\.count/);
    const badKey = await cli(['run', 'hello'], { OSS_RUNNER_KEY: 'osr_nope_nope' }).done;
    expect(badKey.code).toBe(65);
    expect(badKey.stderr).toMatch(/401/);
  });

  it('parameters are typed by the tool schema (an integer from --param count=3)', async () => {
    const { code, stdout } = await cli(['run', 'count', '--param', 'count=3', '--follow']).done;
    expect(stdout).toBe('n1\nn2\nn3\n');
    expect(code).toBe(0);
  });

  it('usage errors: 64; a server that cannot be reached: 66', async () => {
    expect((await cli(['launch']).done).code).toBe(64);
    expect((await cli(['run']).done).code).toBe(64);
    expect((await cli(['runs', '--bogus']).done).code).toBe(64);
    const port = await freePort();
    const gone = await cli(['logs', '-f', 'some-run', '--give-up', '1'], { OSS_RUNNER_URL: `http://127.0.0.1:${port}` }).done;
    expect(gone.code).toBe(66);
  });
});

describe('oss-runner: the other commands', () => {
  it('run without --follow prints the run id; logs, runs and tools', async () => {
    const started = await cli(['run', 'hello']).done;
    expect(started.code).toBe(0);
    const runId = started.stdout.trim();
    await cli(['logs', '-f', runId]).done;
    expect((await cli(['logs', runId]).done).stdout).toBe('Hello OSS Runner\n');
    const runs = JSON.parse((await cli(['runs', '--name', 'hello', '--limit', '1', '--json']).done).stdout) as { items: Run[] };
    expect(runs.items.map((r) => r.run_id)).toEqual([runId]);
    expect((await cli(['runs', '--name', 'hello']).done).stdout).toMatch(new RegExp(`${runId}\\s+hello\\s+succeeded\\s+0`));
    const tools = await cli(['tools']).done;
    expect(tools.stdout).toMatch(/^drip\s+yes\s+80 numbered lines/m);
  });

  it('the bin launcher runs the built client (npx oss-runner)', async () => {
    const { code, stdout } = await cli(['tools', '--json'], {}, path.join(ROOT, 'bin/oss-runner.js')).done;
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { items: { name: string }[] }).items.map((t) => t.name)).toContain('hello');
  });
});

describe('oss-runner run --follow across a dropped connection', () => {
  it('resumes by itself after the connection is cut: every line once, in order', async () => {
    const relay = await tcpRelay(server.url);
    const follower = cli(['run', 'drip', '--follow'], { OSS_RUNNER_URL: `http://127.0.0.1:${relay.port}` });
    await waitFor('some lines', () => follower.stdout().split('\n').length > 10);
    await relay.cut();
    const seenAtCut = follower.stdout().split('\n').length;
    await new Promise((r) => setTimeout(r, 1500));
    await relay.restore();
    const { code, stdout, stderr } = await follower.done;
    expect(stdout).toBe(Array.from({ length: 80 }, (_, i) => `drip${i + 1}\n`).join(''));
    // Lines went on arriving after the cut: the stream was resumed mid-run, not read once at the end.
    expect(seenAtCut).toBeLessThan(80);
    expect(stderr).toMatch(/connection lost/);
    expect(stderr).toMatch(/connection back: resuming after byte \d+/);
    expect(code).toBe(0);
  });
});
