/**
 * Issue 19, item 4: starting runs never stalls the server. Two figures, each beside its baseline in
 * the same invocation:
 * - the server's event-loop delay while a storm of starts goes through it (prom-client's
 *   `nodejs_eventloop_lag_*` metrics on METRICS_PORT, which read perf_hooks.monitorEventLoopDelay and
 *   reset it at each scrape), against the same server idle for as long;
 * - from `POST /set` to the first line at an SSE reader, one run at a time on an idle server,
 *   against a Node program spawning the same tool and reading its pipe.
 * The delay is what the loop waited beyond its 10 ms sampling interval (the metric includes it). Beside
 * them: the server's CPU time per start (from /proc, steadier than delays on a loaded machine), and the
 * machine's floor, the same delay in a Node process that does nothing but measure it during the storm.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunEnvelope } from '../shared/src/schemas/run';
import { api, type TestServer } from '../server/test/harness';
import { pct, pipeReader, type Row, type Sizes } from './cases';
import { readSse } from './readers';

/** prom-client's sampling interval (its `eventLoopMonitoringPrecision`), included in the values it reports. */
const SAMPLING_MS = 10;

const ms = (x: number) => `${x.toFixed(1)} ms`;

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/** The server's /metrics URL, from the line it prints at start (the bench server runs with METRICS_PORT=0). */
function metricsUrl(server: TestServer): string {
  const url = /metrics on (http:\/\/\S+\/metrics)/.exec(server.output())?.[1];
  if (!url) throw new Error('the bench server serves no /metrics (METRICS_PORT)');
  return url;
}

/** Scrapes the event-loop delay since the last scrape (the scrape resets it), in ms beyond the sampling interval. */
async function loopDelay(server: TestServer): Promise<LoopDelay> {
  const text = await (await fetch(metricsUrl(server))).text();
  const value = (name: string) => {
    const seconds = Number(new RegExp(`^nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return Math.max(0, seconds * 1000 - SAMPLING_MS);
  };
  return { p50: value('p50'), p99: value('p99'), max: value('max') };
}

/**
 * A Node process that only measures its own event-loop delay, as prom-client does (a 10 ms sampling
 * interval): what any process on this machine waits, doing nothing, while the storm goes on.
 */
function idleProcess() {
  const program = `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: ${SAMPLING_MS} }); h.enable();
    require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
      console.log(JSON.stringify([h.percentile(50), h.percentile(99), h.max].map((ns) => ns / 1e6))); h.reset();
    });`;
  const child = spawn(process.execPath, ['-e', program], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async read(): Promise<LoopDelay> {
      child.stdin.write('\n');
      const [p50 = NaN, p99 = NaN, max = NaN] = JSON.parse(String((await lines.next()).value)) as number[];
      const beyond = (x: number) => Math.max(0, x - SAMPLING_MS);
      return { p50: beyond(p50), p99: beyond(p99), max: beyond(max) };
    },
    async stop() {
      child.stdin.end();
      await once(child, 'exit');
    },
  };
}

const start = async (server: TestServer, name: string) => (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;

/** From the start request to the first line at an SSE reader, for one `echo` run. */
async function firstLine(server: TestServer): Promise<{ ms: number; bad: number }> {
  const t0 = performance.now();
  const run = await start(server, 'hello');
  const r = await readSse(server, run.run_id, () => 'hello');
  return { ms: (r.firstLineAt ?? NaN) - t0, bad: r.mismatches + Math.abs(r.lines - 1) };
}

export async function spawnStalls(server: TestServer, sizes: Sizes): Promise<Row[]> {
  // One run at a time on an idle server, against spawning `echo` from Node and reading its pipe.
  const singles = Math.max(5, sizes.repeat * 10);
  const ours: number[] = [];
  const pipe: number[] = [];
  let singleBad = 0;
  const singlesCpu0 = server.cpuMs();
  for (let i = 0; i < singles; i++) {
    const t0 = performance.now();
    let first = NaN;
    await pipeReader(['echo', 'hello'], () => (first = Number.isNaN(first) ? performance.now() : first));
    pipe.push(first - t0);
    const r = await firstLine(server);
    ours.push(r.ms);
    singleBad += r.bad;
    await sleep(50);
  }
  const singleCpuMs = (server.cpuMs() - singlesCpu0) / singles;

  // The storm: every start at once, each read by an SSE reader; then the server idle for as long.
  const floor = idleProcess();
  await loopDelay(server);
  await floor.read();
  const cpu0 = server.cpuMs();
  const t0 = performance.now();
  const storm = await Promise.all(Array.from({ length: sizes.shortRuns }, () => firstLine(server)));
  const stormMs = performance.now() - t0;
  const stormCpuMs = server.cpuMs() - cpu0;
  const during = await loopDelay(server);
  const floorDuring = await floor.read();
  await floor.stop();
  await sleep(stormMs);
  const idle = await loopDelay(server);

  const p50 = pct(ours, 50);
  return [
    {
      case: `event-loop delay during ${sizes.shortRuns} starts at once (MAX_CONCURRENT_RUNS=8, ${(stormMs / 1000).toFixed(1)} s)`,
      baseline: `idle as long: p99 ${ms(idle.p99)}, max ${ms(idle.max)}; an idle Node process during the storm: p99 ${ms(floorDuring.p99)}, max ${ms(floorDuring.max)}`,
      measured: `p50 ${ms(during.p50)}, p99 ${ms(during.p99)}, max ${ms(during.max)}; server CPU ${ms(stormCpuMs / sizes.shortRuns)} per start`,
      ratio: `p99 +${ms(during.p99 - idle.p99)} over idle`,
      target: 'p99 < 10 ms',
      met: during.p99 < 10,
      mismatches: storm.reduce((n, r) => n + r.bad, 0),
    },
    {
      case: `POST /set to the first line at an SSE reader, one run at a time (${singles} runs of echo)`,
      baseline: `p50 ${ms(pct(pipe, 50))} (Node spawning echo, reading its pipe)`,
      measured: `p50 ${ms(p50)}, p99 ${ms(pct(ours, 99))}; server CPU ${ms(singleCpuMs)} per start`,
      ratio: `${(p50 / pct(pipe, 50)).toFixed(1)}x the pipe`,
      target: 'p50 < 20 ms',
      met: p50 < 20,
      mismatches: singleBad,
    },
  ];
}
