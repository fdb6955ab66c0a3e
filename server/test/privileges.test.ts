/**
 * Issue 15, item 2: a sandboxed tool ran as host root and could change the host's kernel settings. On a
 * server run as root a tool now runs as RUN_AS_USER, with no_new_privs, the kernel's settings and the
 * server out of its reach, in both isolation modes; only an entry marked run_as_root keeps root.
 * Meaningful only where the server runs as root (as CI does), so skipped elsewhere.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health } from '../../shared/src/schemas/health';
import type { ToolList } from '../../shared/src/schemas/tool';
import { api, runToEnd, spawnHelperOf, startServer, type TestServer } from './harness';

/**
 * Everything a tool must not do to the host or to the server that started it, tried from inside a run.
 * It finds its parent (in a process group the server's spawn helper, in a PID namespace bubblewrap's
 * init), and the server: any process whose command line names its entry point, which a PID namespace hides.
 */
const PROBE = String.raw`
[ "$(id -u)" = 0 ] && echo "uid: root" || echo "uid: not root"
grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status && echo "no_new_privs: set" || echo "no_new_privs: not set"
core=$(cat /proc/sys/kernel/core_pattern)
(printf '%s\n' "$core" > /proc/sys/kernel/core_pattern) 2>/dev/null && echo "core_pattern: written" || echo "core_pattern: refused"
(echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null && echo "drop_caches: written" || echo "drop_caches: refused"
echo "parent: $PPID"
kill -0 "$PPID" 2>/dev/null && echo "parent signal: sent" || echo "parent signal: refused"
cat "/proc/$PPID/environ" > /dev/null 2>&1 && echo "parent environ: read" || echo "parent environ: refused"
for cmdline in /proc/[0-9]*/cmdline; do
  pid=$(basename "$(dirname "$cmdline")")
  tr '\0' ' ' 2>/dev/null < "$cmdline" | grep -q 'server/src/mai[n].ts' || continue
  kill -0 "$pid" 2>/dev/null && signal=sent || signal=refused
  cat "/proc/$pid/environ" > /dev/null 2>&1 && environ=read || environ=refused
  echo "server $pid: signal $signal, environ $environ"
done
ls -A "$1" 2>/dev/null | grep -qx oss-runner.db && echo "LOG_DIR: listed" || echo "LOG_DIR: not listed"
ls "$1/runs" > /dev/null 2>&1 && echo "logs: listed" || echo "logs: not listed"
echo mine > "$2/report.txt" && echo "artifacts: written"
`;

const CATALOG = `
tools:
  - name: probe
    description: tries to reach the host's kernel settings and the server
    cmd: ["bash", "-c", ${JSON.stringify(PROBE)}, "probe", "{{artifacts}}/../..", "{{artifacts}}"]
    artifacts: [report.txt]
  - name: probe-as-root
    description: the same, marked run_as_root
    cmd: ["bash", "-c", ${JSON.stringify(PROBE)}, "probe", "{{artifacts}}/../..", "{{artifacts}}"]
    artifacts: [report.txt]
    run_as_root: true
`;

const RUN_AS_USER = 2147483646;
const REFUSED = ['uid: not root', 'no_new_privs: set', 'core_pattern: refused', 'drop_caches: refused'];
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot).each(['pid-namespace', 'process-group'] as const)('a tool on a server run as root, with %s isolation', (isolation) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ catalog: CATALOG, env: { PROCESS_ISOLATION: isolation } });
  });
  afterAll(() => server.stop());

  it('/health says the tools are kept from root, the kernel and the server', async () => {
    const { body } = await api<Health>(server.url, 'GET', '/health');
    expect(body.process_isolation).toBe(isolation);
    expect(body.limits).toMatchObject({
      unprivileged: { enforced: true, how: expect.stringContaining(`uid ${RUN_AS_USER}`) as unknown },
      no_new_privs: { enforced: true },
      kernel_read_only: { enforced: true },
      server_protected: { enforced: true },
    });
  });

  it('runs as an unprivileged user: no root, no_new_privs, no kernel settings, no signal to or read of the server', async () => {
    const { run, lines } = await runToEnd(server.url, 'probe');
    expect(run.status, lines.join('\n')).toBe('succeeded');
    expect(lines.slice(0, 4)).toEqual(REFUSED);
    expect(lines).toContain('parent signal: refused');
    expect(lines).toContain('parent environ: refused');
    const servers = lines.filter((l) => l.startsWith('server '));
    if (isolation === 'pid-namespace') expect(servers).toEqual([]); // it cannot see the server at all
    else {
      // In a process group it sees the server, and its parent (the server's spawn helper), and is refused by the permissions alone.
      expect(lines).toContain(`parent: ${spawnHelperOf(server)}`);
      expect(servers).toContain(`server ${server.proc.pid}: signal refused, environ refused`);
      for (const line of servers) expect(line).toMatch(/signal refused, environ refused$/);
    }
    expect(lines.slice(-3)).toEqual(['LOG_DIR: not listed', 'logs: not listed', 'artifacts: written']);
    // Its own directories are its user's; the artifact it wrote is served as any other.
    for (const dir of ['work', 'artifacts']) expect(statSync(path.join(server.logDir, dir, run.run_id)).uid).toBe(RUN_AS_USER);
    expect(run.artifacts.map((a) => a.name)).toEqual(['report.txt']);
  });

  it('keeps root for an entry marked run_as_root, and says so in the catalog', async () => {
    const { body } = await api<ToolList>(server.url, 'GET', '/opensource-list');
    expect(body.items.map((t) => [t.name, t.run_as_root])).toEqual([
      ['probe', false],
      ['probe-as-root', true],
    ]);
    const { run, lines } = await runToEnd(server.url, 'probe-as-root');
    expect(run.status, lines.join('\n')).toBe('succeeded');
    expect(lines[0]).toBe('uid: root');
    expect(lines).toContain('artifacts: written');
    expect(statSync(path.join(server.logDir, 'work', run.run_id)).uid).toBe(0);
    // In the sandbox the kernel's settings stay read-only even for root; without one, root is root.
    if (isolation === 'pid-namespace') expect(lines.slice(2, 4)).toEqual(['core_pattern: refused', 'drop_caches: refused']);
  });
});
