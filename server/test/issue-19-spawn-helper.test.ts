/**
 * Issue 19, item 4: starting runs never stalls the server. The server forks no tool itself (a fork
 * copies its page tables, about 5 ms of its event loop each at 200 MB): a small spawn helper does.
 * Checked by the process tree, not by a timing (bench/spawn.ts measures the event loop): during a
 * burst of starts the server's only child is the helper, and every run's processes descend from it.
 * A helper that dies is replaced, and the runs it had started end, their processes killed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import { api, processesWith, runToEnd, spawnHelperOf, startServer, waitFor, type TestServer } from './harness';

const CATALOG = `tools:
  - name: nap
    cmd: ["bash", "-c", "exec -a oss-test-i19-nap sleep 120"]
  - name: hello
    cmd: ["echo", "hello"]
`;

/** Children of every thread of `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Running, not a zombie (where the machine's pid 1 reaps no orphans, an exited one stays one). */
function alive(pid: number): boolean {
  try {
    return /State:\s+[^Z]/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The spawn helper, once it has started. */
const helperOf = (server: TestServer) => waitFor('the spawn helper', () => spawnHelperOf(server));

const start = async (s: TestServer, name: string) => {
  const res = await api<RunEnvelope>(s.url, 'POST', `/set/${name}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.run;
};
const getRun = async (s: TestServer, id: string) => (await api<RunEnvelope>(s.url, 'GET', `/runs/${id}`)).body.run;

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe.each(['pid-namespace', 'process-group'])('the spawn helper (%s)', (isolation) => {
  it('forks every run: during a burst of starts the server has no other child, and each run descends from the helper', async () => {
    const burst = 16;
    const s = (server = await startServer({ catalog: CATALOG, env: { PROCESS_ISOLATION: isolation, MAX_CONCURRENT_RUNS: String(burst), START_RATE_PER_MINUTE: '1000' } }));
    const helper = await helperOf(s);
    const serverPid = s.proc.pid ?? 0;
    // Sampled all through the burst: a fork by the server would show as a new child of it, however
    // briefly. (Under tsx the server has an esbuild service as a child from its start.)
    const before = new Set(childrenOf(serverPid));
    expect(before).toContain(helper);
    const seen = new Set<number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const pid of childrenOf(serverPid)) seen.add(pid);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const runs = await Promise.all(Array.from({ length: burst }, () => start(s, 'nap')));
    const naps = await waitFor('every run to be up', () => {
      const found = processesWith('oss-test-i19-nap');
      return found.length >= burst ? found : undefined;
    });
    sampling = false;
    await sampler;
    expect([...seen].filter((pid) => !before.has(pid))).toEqual([]);
    for (const pid of naps) {
      const ancestors: number[] = [];
      for (let p = parentOf(pid); p !== null && p > 1 && p !== serverPid; p = parentOf(p)) ancestors.push(p);
      expect(ancestors, `the ancestors of ${pid}`).toContain(helper);
    }
    await Promise.all(runs.map((r) => api(s.url, 'POST', `/runs/${r.run_id}/stop`)));
    expect(processesWith('oss-test-i19-nap')).toEqual([]);
  });

  it('is replaced when it dies: its runs end failed with why, their processes killed, and the next run starts', async () => {
    const s = (server = await startServer({ catalog: CATALOG, env: { PROCESS_ISOLATION: isolation } }));
    const helper = await helperOf(s);
    const run = await start(s, 'nap');
    await waitFor('the run to be up', () => (processesWith('oss-test-i19-nap').length ? true : undefined));
    process.kill(helper, 'SIGKILL');
    const ended = await waitFor('the run to end', async () => {
      const r = await getRun(s, run.run_id);
      return r.finished_at ? r : undefined;
    });
    expect(ended).toMatchObject({ status: 'failed' });
    expect(ended.error).toMatch(/the spawn helper exited \(signal SIGKILL\) while the run was going; its processes were ended/);
    expect(processesWith('oss-test-i19-nap')).toEqual([]);
    await waitFor('the server to say so', () => (/the spawn helper is running again/.test(s.output()) ? true : undefined));
    expect(s.output()).toMatch(/the spawn helper \(pid \d+\) exited \(signal SIGKILL\); 1 run\(s\) it had started were ended; starting a new one/);
    const next = await helperOf(s);
    expect(next).not.toBe(helper);
    const { run: after, lines } = await runToEnd(s.url, 'hello');
    expect(after.status).toBe('succeeded');
    expect(lines).toEqual(['hello']);
  });
});

it('dies with the server: after kill -9 of the server, neither the helper nor a run is left', async () => {
  const s = await startServer({ catalog: CATALOG });
  const helper = await helperOf(s);
  await start(s, 'nap');
  await waitFor('the run to be up', () => (processesWith('oss-test-i19-nap').length ? true : undefined));
  await s.crash();
  await waitFor('the helper and the run to die with the server', () => (!alive(helper) && processesWith('oss-test-i19-nap').length === 0 ? true : undefined), 5000);
});
