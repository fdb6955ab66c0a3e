/**
 * Issue 21, its closing test: a bounded fault run over a whole fleet on this machine's engines. Two API
 * nodes and three workers (built as production runs them), each reaching Redis and PostgreSQL through
 * relays of its own; for about a minute, a seeded schedule starts tens of short runs, stops some, kills
 * nodes with SIGKILL (started again a few seconds later, a worker on its LOG_DIR or a new one), cuts one
 * node's Redis or PostgreSQL for a few seconds, and Redis for everyone. Then, everything restored: every
 * run reaches a final state; none was executed twice (each execution tells the test its run's key as it
 * begins; lost runs are never run again, see docs/fleet.md); every log an API node serves is what its
 * tool wrote (its worker's own copy), or says what it lacks in as many bytes, or ends with its lost run;
 * and no process is left: no tool, no node, no spawn helper.
 *
 * FAULT_SEED replays a schedule (the seed is printed); FAULT_DURATION_S sets its length (60 s).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFinal, type Run, type RunEnvelope, type RunList } from '../../shared/src/schemas/run';
import { executionLog, FAULT_KINDS, NodeSlot, scheduleOf, seeded, whyQueued, type FaultKind, type Step } from './faultFleet';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, processesWith, rawLog, tempDir, withAuth, writeCatalog } from './harness';

const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DURATION_MS = Number(process.env.FAULT_DURATION_S ?? 60) * 1000;
const LEASE_S = 3;
const MARKER = `fault-run-${SEED.toString(36)}-${process.pid}`;

let base: FleetBase;
let told: Awaited<ReturnType<typeof executionLog>>;
let apis: NodeSlot[] = [];
let workers: NodeSlot[] = [];

/** Each execution tells the test its key as it begins, then writes `lines` numbered lines. */
const toolEntry = (name: string, extra: string) => `
  - name: ${name}
    network: true${extra}
    cmd: ["bash", "-c", "echo \\"start $1\\" >/dev/tcp/127.0.0.1/${told.port} || true; for i in $(seq 1 $2); do echo \\"$1 line $i\\"; sleep 0.1; done # ${MARKER}", "fault", "{{key}}", "{{lines}}"]
    params:
      key: { type: string, pattern: "^[a-z0-9-]+$", max_length: 64, required: true }
      lines: { type: integer, min: 1, max: 500, required: true }`;
const TOOLS: [string, string] = ['lines', 'lines-one'];
const expectedLog = (key: string, lines: number) => Array.from({ length: lines }, (_, i) => `${key} line ${i + 1}\n`).join('');

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: String(LEASE_S), FLEET_WAIT_RETRY_S: '0.2', MAX_CONCURRENT_RUNS: '4' });
  told = await executionLog();
  const catalogFile = writeCatalog(tempDir(), `tools:${toolEntry(TOOLS[0], '')}${toolEntry(TOOLS[1], '\n    concurrency: 1')}\n`);
  const slot = (name: string, worker: boolean) => NodeSlot.create(name, worker, { base, catalogFile, env: worker ? { WORKER_TAGS: 'default' } : {} });
  apis = await Promise.all([slot('api-1', false), slot('api-2', false)]);
  workers = await Promise.all([slot('worker-1', true), slot('worker-2', true), slot('worker-3', true)]);
  // The first node migrates the schema; the others start together.
  await apis[0]?.start();
  await Promise.all([...apis.slice(1), ...workers].map((s) => s.start()));
}, 90_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((s) => s.stop()));
  told?.close();
  await base?.close();
});

/** A REST call that gives up after 20 s (a node may be cut meanwhile): its status, or why there was none. */
async function call(url: string, method: string, body?: unknown): Promise<{ status: number | string; run?: Run }> {
  try {
    const headers = withAuth(url, body === undefined ? {} : { 'content-type': 'application/json' });
    const res = await fetch(url, { method, headers, signal: AbortSignal.timeout(20_000), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const answer = (await res.json().catch(() => ({}))) as Partial<RunEnvelope>;
    return { status: res.status, ...(answer.run ? { run: answer.run } : {}) };
  } catch (e) {
    return { status: (e as Error).name === 'TimeoutError' ? 'timeout' : 'no answer' };
  }
}

const count = (tally: Map<string, number>, key: string | number) => tally.set(String(key), (tally.get(String(key)) ?? 0) + 1);
const show = (tally: Map<string, number>) => [...tally].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

/** Every run the fleet has, read from an API node. */
async function allRuns(url: string): Promise<Run[]> {
  const runs: Run[] = [];
  for (let cursor: string | null = null; ; ) {
    const page: RunList = (await api<RunList>(url, 'GET', `/runs?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body;
    runs.push(...page.items);
    if (!(cursor = page.next_cursor)) return runs;
  }
}

/** Byte ranges of a log that say they stand for output this node does not have (`[oss-runner: N bytes of output ...]`, N bytes in all). */
function declaredGaps(log: Buffer): [number, number][] {
  return [...log.toString('latin1').matchAll(/\n\[oss-runner: (\d+) bytes of output [^\]\n]*\]\n/g)].map((m) => {
    const end = m.index + m[0].length;
    return [end - Number(m[1]), end];
  });
}

/** The shortest note a gap can hold (logMirror.ts's gapFiller): a shorter gap is a blank line. */
const SHORTEST_NOTE = '\n[oss-runner: 99 bytes of output missing]\n'.length;

/** Where a blank gap (spaces, then a line break) that begins at or before `i` ends, when it is too short for a note; else null. */
function blankGapEnd(served: Buffer, i: number): number | null {
  let end = i;
  while (end < served.length && served[end] === 0x20) end++;
  return served[end] === 0x0a && end + 1 - i < SHORTEST_NOTE ? end + 1 : null;
}

/**
 * How a run's log as an API node serves it stands against what its tool wrote (`written`: its worker's
 * own copy): `complete`, `declares gaps`, `has gaps too short for a note`, `ends with its lost run`, or a
 * violation (`!` first).
 */
function judgeLog(run: Run, served: Buffer, written: Buffer | undefined): string {
  const truth = written ?? Buffer.alloc(0);
  const gaps = declaredGaps(served);
  const inGap = (i: number) => gaps.some(([from, to]) => i >= from && i < to);
  let blank = 0;
  for (let i = 0; i < served.length; i++) {
    if (served[i] === truth[i] || inGap(i)) continue;
    const end = blankGapEnd(served, i);
    if (end === null) return `! differs from what its tool wrote at byte ${i} (of ${served.length}) without saying so`;
    blank++;
    i = end - 1;
  }
  if (served.length < truth.length && run.status !== 'lost') return `! ends at byte ${served.length} of the ${truth.length} its tool wrote without saying what it lacks`;
  if (run.status !== 'lost' && served.length !== run.log_bytes) return `! is ${served.length} bytes where its record says ${run.log_bytes}`;
  if (run.status === 'succeeded' && truth.toString() !== expectedLog(String(run.params.key), Number(run.params.lines))) return '! succeeded without every line written';
  if (gaps.length) return 'declares gaps';
  if (blank) return 'has gaps too short for a note';
  return served.length < truth.length ? 'ends with its lost run' : 'complete';
}

describe('issue 21: a fleet under faults', () => {
  it('after a minute of kills and cuts, every run is final, none ran twice, every log is whole or says what it lacks, no process is left', async () => {
    console.log(`fault run: seed ${SEED} (FAULT_SEED=${SEED} replays it), ${DURATION_MS / 1000} s`);
    const rng = seeded(SEED);
    const faults: Record<FaultKind, number> = { 'kill-worker': 3, 'kill-api': 2, 'cut-redis': 3, 'cut-postgres': 3, 'cut-redis-all': 1 };
    const steps = scheduleOf(rng, { durationMs: DURATION_MS, starts: Math.round((45 * DURATION_MS) / 60_000), stops: 8, faults, tools: TOOLS });
    const violations: string[] = [];
    const starts = new Map<string, number>();
    const stops = new Map<string, number>();
    const injected = new Map<string, number>();
    const accepted: string[] = [];
    const pick = <T>(list: T[], at: number): T | undefined => list[Math.floor(at * list.length)];
    const apiUrl = (via: number) => pick(apis.filter((s) => s.server), via)?.server?.url;
    const all = [...apis, ...workers];

    const perform = async (step: Step, n: number): Promise<void> => {
      switch (step.kind) {
        case 'start': {
          const url = apiUrl(step.via);
          const res = url ? await call(`${url}/set/${step.tool}`, 'POST', { params: { key: `run-${n}`, lines: step.lines } }) : { status: 'no API node up' };
          count(starts, res.status);
          if (res.run) accepted.push(res.run.run_id);
          return;
        }
        case 'stop': {
          // One of the last few started: most runs last a few seconds.
          const [url, runId] = [apiUrl(step.via), pick(accepted.slice(-4), step.pick)];
          if (url && runId) count(stops, (await call(`${url}/runs/${runId}/stop`, 'POST')).status);
          return;
        }
        case 'cut-redis-all':
          count(injected, step.kind);
          await Promise.all(all.map((s) => s.redis.cut()));
          await sleep(step.forMs);
          await Promise.all(all.map((s) => s.redis.restore()));
          return;
        default: {
          const slot = pick(step.kind === 'kill-worker' ? workers : step.kind === 'kill-api' ? apis : all, step.node);
          if (!slot) return;
          await slot.exclusive(async () => {
            count(injected, `${step.kind} (${slot.name})`);
            if (step.kind === 'kill-worker' || step.kind === 'kill-api') {
              await slot.crash();
              await sleep(step.forMs);
              await slot.start(step.freshDir && step.kind === 'kill-worker' ? tempDir() : undefined);
            } else {
              const relay = step.kind === 'cut-redis' ? slot.redis : slot.pg;
              await relay.cut();
              await sleep(step.forMs);
              await relay.restore();
            }
          });
        }
      }
    };

    const began = Date.now();
    const under: Promise<void>[] = [];
    for (const [n, step] of steps.entries()) {
      await sleep(Math.max(0, began + step.at - Date.now()));
      under.push(perform(step, n).catch((e: unknown) => void violations.push(`${step.kind} at ${step.at} ms failed: ${(e as Error).message}`)));
    }
    await Promise.all(under);
    const url = apis.find((s) => s.server)?.server?.url ?? '';
    for (const slot of all) if (!slot.server) violations.push(`${slot.name} is not running after the schedule`);

    // Everything restored: every run must reach a final state (a lost one within a lease or two).
    let runs: Run[] = [];
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(500)) {
      runs = await allRuns(url);
      if (runs.every((r) => isFinal(r.status))) break;
    }
    for (const r of runs.filter((r) => !isFinal(r.status))) violations.push(`run ${r.run_id} (${String(r.params.key)}) is still ${r.status}`);
    const queued = runs.filter((r) => r.status === 'queued');
    if (queued.length) violations.push(...(await whyQueued(base, queued).catch((e: unknown) => [`(could not be read: ${(e as Error).message})`])).map((why) => `  why: ${why}`));
    for (const until = Date.now() + 20_000; processesWith(MARKER).length && Date.now() < until; ) await sleep(200);
    const tools = processesWith(MARKER);
    if (tools.length) violations.push(`tool processes left: ${tools.join(', ')}`);

    // Executed at most once, and never when the record says the run never started (or could not be spawned).
    const byKey = new Map(runs.map((r) => [String(r.params.key), r]));
    for (const [key, times] of told.executions) {
      const run = byKey.get(key);
      if (!run) violations.push(`${key} was executed, but no run of it is listed`);
      else if (times > 1) violations.push(`run ${run.run_id} (${key}) was executed ${times} times (${run.status})`);
      // (A run judged lost makes no such claim: its start may have been recorded too late to land.)
      else if ((run.started_at === null && run.status !== 'lost') || run.end_reason === 'spawn_error') violations.push(`run ${run.run_id} (${key}) is recorded as never started (${run.status}: ${run.error ?? ''}), yet was executed`);
    }
    for (const id of accepted) if (!runs.some((r) => r.run_id === id)) violations.push(`run ${id} was accepted but is not listed`);

    // Each log, from either API node, against what its tool wrote (its worker's own copy).
    const logs = new Map<string, number>();
    const logDirs = workers.flatMap((w) => w.logDirs);
    // Read together: a log whose end is judged by silence takes its API node a while (idleEndMs).
    const served = await Promise.all(runs.map((run, i) => rawLog(apis[i % apis.length]?.server?.url ?? url, run.run_id)));
    for (const [i, run] of runs.entries()) {
      const copies = logDirs.map((dir) => path.join(dir, 'runs', `${run.run_id}.log`)).filter((f) => existsSync(f));
      if (copies.length > 1) violations.push(`run ${run.run_id} has a log on ${copies.length} workers`);
      const verdict = judgeLog(run, served[i] ?? Buffer.alloc(0), copies[0] === undefined ? undefined : readFileSync(copies[0]));
      if (verdict.startsWith('!')) violations.push(`the log of run ${run.run_id} (${String(run.params.key)}, ${run.status}, ${run.log_bytes} bytes recorded) ${verdict.slice(2)}`);
      count(logs, verdict.startsWith('!') ? 'violating' : verdict);
    }

    // No node, and no spawn helper of a node, outlives a clean stop or a SIGKILL.
    await Promise.all(all.map((s) => s.stop()));
    await sleep(500);
    for (const slot of all) if (slot.leftovers().length) violations.push(`${slot.name} left processes: ${slot.leftovers().join(', ')}`);

    const outputs = violations.length ? tempDir('oss-runner-fault-run-') : '';
    if (outputs) for (const slot of all) slot.keepOutputs(outputs);
    const states = new Map<string, number>();
    for (const r of runs) count(states, r.status);
    const executed = [...told.executions.values()].reduce((a, b) => a + b, 0);
    console.log(
      [
        `fault run summary (seed ${SEED}):`,
        `  starts: ${steps.filter((s) => s.kind === 'start').length} asked, answered ${show(starts)}; stops: answered ${show(stops)}`,
        `  faults: ${FAULT_KINDS.map((k) => `${k} ${[...injected].filter(([what]) => what.split(' ')[0] === k).reduce((a, [, n]) => a + n, 0)}`).join(', ')}`,
        `  runs: ${runs.length} listed: ${show(states)}; ${executed} executions`,
        `  logs: ${show(logs)}`,
        `  violations: ${violations.length}`,
        ...violations.map((v) => `    - ${v}`),
        ...(violations.length ? [`  what the nodes printed: ${outputs}`] : []),
      ].join('\n'),
    );
    expect(violations).toEqual([]);
  }, 180_000);
});
