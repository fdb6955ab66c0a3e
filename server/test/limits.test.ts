/**
 * Resource limits and the sandbox, on the real machine: cgroup memory and pids limits, rlimits, a
 * bubblewrap sandbox, and what each run used. Each test shows a limit holding while the server and
 * other runs carry on.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health } from '../../shared/src/schemas/health';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, runToEnd as runToEndOn, endRun, readSse, startServer, waitFor, writeCatalog, type TestServer } from './harness';

const CATALOG = (secretFile: string) => `
tools:
  - name: hog
    description: allocates memory without end
    cmd: ["node", "-e", "const keep = []; for (;;) keep.push(Buffer.alloc(1 << 20, 1))"]
    limits: { memory_bytes: 64MiB }
  - name: bomb
    description: a fork bomb
    cmd: ["bash", "-c", "echo bombing; b() { b | b & }; b; sleep 30"]
    limits: { pids: 40 }
    timeout_s: 3
  - name: spin
    description: burns CPU
    cmd: ["bash", "-c", "while :; do :; done"]
    limits: { cpu_s: 1 }
  - name: big-file
    description: writes a file past its limit
    cmd: ["bash", "-c", "head -c 3000000 /dev/zero > big; echo wrote $(stat -c %s big)"]
    limits: { file_bytes: 1MiB }
  - name: escape
    description: tries to write and read where it must not
    cmd:
      - bash
      - -c
      - |
        touch /etc/oss-runner-escape 2>/dev/null && echo WROTE-ETC || echo etc-refused
        touch "${process.env.HOME}/oss-runner-escape" 2>/dev/null && echo WROTE-HOME || echo home-refused
        [ "$HOME" = "$PWD" ] && echo home-is-run-dir
        echo private > /tmp/oss-runner-private && echo tmp-ok
        echo mine > here && echo cwd-ok
        cat "${secretFile}" 2>/dev/null && echo READ-SECRET || echo secret-hidden
        ls "$1" 2>/dev/null | grep -q oss-runner.db && echo SAW-DB || echo db-hidden
      - escape
      - "{{artifacts}}/../.."
  - name: offline
    description: tries the network
    cmd: ["bash", "-c", "(echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && echo connected || echo no-network", "offline", "{{port}}"]
    params: { port: { type: integer, min: 1, max: 65535, required: true } }
    network: false
  - name: online
    description: uses the network
    cmd: ["bash", "-c", "(echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && echo connected || echo no-network", "online", "{{port}}"]
    params: { port: { type: integer, min: 1, max: 65535, required: true } }
    network: true
  - name: cached
    description: counts its runs in a cache kept between them
    cmd: ["bash", "-c", "f=$XDG_CACHE_HOME/count; n=$(cat $f 2>/dev/null || echo 0); echo $((n + 1)) > $f; echo $((n + 1)); echo $XDG_CACHE_HOME"]
    cache: counter
  - name: cached-slow
    description: the same, taking a second
    cmd: ["bash", "-c", "sleep 1; f=$XDG_CACHE_HOME/count; n=$(cat $f 2>/dev/null || echo 0); echo $((n + 1)) > $f; echo $((n + 1))"]
    cache: counter
  - name: ticker
    description: prints for a while
    cmd: ["bash", "-c", "for i in $(seq 1 40); do echo tick$i; sleep 0.05; done"]
  - name: hello
    description: says hello
    cmd: ["echo", "hello"]
`;

let server: TestServer;
let secretFile: string;

beforeAll(async () => {
  // LOG_DIR outside /tmp (which every tool gets a private one of), to see that it is hidden itself.
  const dir = mkdtempSync('/var/tmp/oss-runner-test-');
  secretFile = path.join(dir, 'secret.txt');
  writeFileSync(secretFile, 'top secret');
  server = await startServer({ catalogFile: writeCatalog(dir, CATALOG(secretFile)), logDir: dir });
});
afterAll(async () => {
  await server.stop();
  rmSync(server.logDir, { recursive: true, force: true });
});

/** The run's directory in the cgroup v1 pids hierarchy, beneath this process's own (the server's too), in its LOG_DIR's scope. */
function pidsCgroup(runId: string): string {
  const own = /^\d+:pids:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  const scope = createHash('sha256').update(server.logDir).digest('hex').slice(0, 16);
  return path.join('/sys/fs/cgroup/pids', own, 'oss-runner', scope, runId);
}

const runToEnd = (name: string, params?: Record<string, unknown>) => runToEndOn(server.url, name, params);

describe('what the machine can enforce', () => {
  it('/health reports each limit and how it is enforced here', async () => {
    const { body } = await api<Health>(server.url, 'GET', '/health');
    expect(body.limits).toMatchObject({
      sandbox: { enforced: true },
      network_off: { enforced: true },
      memory: { enforced: true, how: expect.stringMatching(/cgroup v[12] memory/) as unknown },
      pids: { enforced: true, how: expect.stringMatching(/cgroup v[12] pids/) as unknown },
      cpu_time: { enforced: true },
      file_size: { enforced: true },
      disk: { enforced: true, how: expect.stringMatching(/measured/) as unknown },
    });
  });

  it('refuses a tool that requires a limit this server cannot enforce, and says why', async () => {
    const plain = await startServer({ catalog: CATALOG('/nonexistent'), env: { PROCESS_ISOLATION: 'process-group' } });
    try {
      const { body: health } = await api<Health>(plain.url, 'GET', '/health');
      expect(health.limits.network_off).toMatchObject({ enforced: false, reason: expect.stringMatching(/needs bubblewrap/) as unknown });
      const { body: tools } = await api<ToolList>(plain.url, 'GET', '/opensource-list');
      const offline = tools.items.find((t) => t.name === 'offline');
      expect(offline).toMatchObject({ available: false, unavailable_reason: expect.stringMatching(/requires network: false, which this server cannot enforce: needs bubblewrap/) as unknown });
      const refused = await api<{ message: string }>(plain.url, 'POST', '/set/offline', { params: { port: 1 } });
      expect(refused.status).toBe(409);
      expect(refused.body.message).toMatch(/network: false/);
      expect((await api<{ items: unknown[] }>(plain.url, 'GET', '/runs')).body.items).toHaveLength(0);
      expect(plain.output()).toMatch(/"level":"warn"[^\n]*tool \\"offline\\" is refused here/);
      // What it can enforce without bubblewrap (cgroups, rlimits) still holds there.
      expect(tools.items.find((t) => t.name === 'hog')?.available).toBe(health.limits.memory.enforced);
      const { run } = await (async () => {
        const started = await api<RunEnvelope>(plain.url, 'POST', '/set/spin');
        return { run: endRun((await readSse(`${plain.url}/runs/${started.body.run.run_id}/logs`)).events) };
      })();
      expect(run).toMatchObject({ signal: 'SIGXCPU', limits: { cpu_s: 1, sandbox: false, network: true } });
    } finally {
      await plain.stop();
    }
  });
});

describe('limits', () => {
  it('kills a memory hog at its cgroup limit; the server and another run carry on', async () => {
    const other = await api<RunEnvelope>(server.url, 'POST', '/set/ticker');
    const { run, lines } = await runToEnd('hog');
    expect(run).toMatchObject({ status: 'failed', end_reason: 'oom', outcome: 'error', signal: 'SIGKILL' });
    expect(run.limits?.memory_bytes).toBe(64 * 1024 * 1024);
    expect(run.peak_memory_bytes).toBeGreaterThan(48 * 1024 * 1024);
    expect(run.peak_memory_bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(run.error).toMatch(/memory limit/);
    expect(lines.join('\n')).toMatch(/oss-runner: 1 process\(es\) killed for going over the memory limit/);

    const { events } = await readSse(`${server.url}/runs/${other.body.run.run_id}/logs`);
    expect(endRun(events)).toMatchObject({ status: 'succeeded' });
    expect(events.filter((e) => !e.event).flatMap((e) => e.data)).toHaveLength(40);
    expect((await api(server.url, 'GET', '/health')).status).toBe(200);
  });

  it('holds a fork bomb at its pids limit until the run is ended', async () => {
    const { body: health } = await api<Health>(server.url, 'GET', '/health');
    const started = await api<RunEnvelope>(server.url, 'POST', '/set/bomb');
    const runId = started.body.run.run_id;
    const cgroup = pidsCgroup(runId);
    if (health.limits.pids.enforced && health.limits.pids.how.includes('v1')) {
      // While it rages, the run's cgroup is full, and not one process more.
      const samples: number[] = [];
      await waitFor('the bomb to fill its cgroup', () => {
        samples.push(Number(readFileSync(path.join(cgroup, 'pids.current'), 'utf8')));
        return samples.length >= 20 && samples.some((n) => n >= 35) ? true : undefined;
      });
      expect(Math.max(...samples)).toBeLessThanOrEqual(40);
    }
    // Meanwhile the server answers and other runs run.
    expect((await runToEnd('hello')).run.status).toBe('succeeded');

    const { events } = await readSse(`${server.url}/runs/${runId}/logs`);
    const run = endRun(events);
    expect(run).toMatchObject({ status: 'timed_out', end_reason: 'timeout' });
    expect(run.limits?.pids).toBe(40);
    expect(events.flatMap((e) => e.data).join('\n')).toMatch(/fork: (retry: )?Resource temporarily unavailable/);
    expect(existsSync(cgroup)).toBe(false); // its cgroup is removed with it
  });

  it('ends a process at its CPU time limit (RLIMIT_CPU) and says so on the run', async () => {
    const { run } = await runToEnd('spin');
    // What the limit guarantees: at 1 s of CPU the kernel ends the tool with SIGXCPU (bash keeps its
    // default action), and whatever ignores that gets SIGKILL at the hard limit a second later
    // (prlimit --cpu=1:2), so no run goes on burning CPU; the run records the signal and the limit.
    // How much CPU time the cgroup counted by then is a measurement that the kernel's tick sampling
    // skews on a busy machine (857 ms was seen for the 1 s limit): only that it is recorded is checked.
    expect(run).toMatchObject({ status: 'failed', end_reason: 'signal', outcome: 'error', signal: 'SIGXCPU', limits: { cpu_s: 1 } });
    expect(run.cpu_time_ms).toBeGreaterThan(0);
    expect(run.cpu_time_ms).toBeLessThan(5000); // far past the hard limit's 2 s
  });

  it('stops a file at its size limit (RLIMIT_FSIZE)', async () => {
    const { run } = await runToEnd('big-file');
    const written = readFileSync(path.join(server.logDir, 'work', run.run_id, 'big'));
    expect(written.length).toBe(1024 * 1024);
    expect(run.limits?.file_bytes).toBe(1024 * 1024);
  });

  it('records peak memory, CPU time and the limits on every run', async () => {
    const { run } = await runToEnd('hello');
    expect(run.peak_memory_bytes).toBeGreaterThan(0);
    expect(run.cpu_time_ms).toBeGreaterThanOrEqual(0);
    expect(run.limits).toEqual({ memory_bytes: 2 * 1024 ** 3, pids: 1024, cpu_s: null, file_bytes: 1024 ** 3, disk_bytes: 10 * 1024 ** 3, log_bytes: 64 * 1024 * 1024, network: false, sandbox: true });
  });
});

describe('sandbox', () => {
  it('lets a tool write only its own directory and a private /tmp, and hides the server’s data', async () => {
    const { run, lines } = await runToEnd('escape');
    expect(run.status).toBe('succeeded');
    expect(lines).toEqual(['etc-refused', 'home-refused', 'home-is-run-dir', 'tmp-ok', 'cwd-ok', 'secret-hidden', 'db-hidden']);
    expect(existsSync('/etc/oss-runner-escape')).toBe(false);
    expect(existsSync('/tmp/oss-runner-private')).toBe(false); // its /tmp was its own
    expect(readFileSync(path.join(server.logDir, 'work', run.run_id, 'here'), 'utf8')).toBe('mine\n');
  });

  it('keeps a tool’s declared cache between runs, writable in the sandbox, outside the run directories', async () => {
    const cacheDir = path.join(server.logDir, 'cache', 'counter');
    expect((await runToEnd('cached')).lines).toEqual(['1', cacheDir]);
    expect((await runToEnd('cached')).lines).toEqual(['2', cacheDir]);
    expect(readFileSync(path.join(cacheDir, 'count'), 'utf8')).toBe('2\n');

    // One run at a time per cache, whichever entries share it: the second waits in the queue.
    const first = (await api<RunEnvelope>(server.url, 'POST', '/set/cached-slow')).body.run;
    const second = (await api<RunEnvelope>(server.url, 'POST', '/set/cached')).body.run;
    expect([first.status, second.status]).toEqual(['running', 'queued']);
    const lines = async (run: Run) => (await readSse(`${server.url}/runs/${run.run_id}/logs`)).events.filter((e) => !e.event).flatMap((e) => e.data);
    expect(await lines(first)).toEqual(['3']);
    expect(await lines(second)).toEqual(['4', cacheDir]);
  });

  it('cuts a tool off the network unless its entry allows it', async () => {
    const port = Number(new URL(server.url).port);
    expect((await runToEnd('offline', { port })).lines).toEqual(['no-network']);
    expect((await runToEnd('online', { port })).lines).toEqual(['connected']);
    const { run } = await runToEnd('offline', { port });
    expect(run.limits?.network).toBe(false);
  });
});
