/**
 * The fleet cases: two API nodes and one worker on this machine's PostgreSQL and Redis (a schema and
 * a key prefix of their own, removed afterwards). A million lines go from the worker through a Redis
 * Stream to one `curl -N` reader on each API node, beside the single server's SSE time measured in the
 * same invocation; and stops asked on the API node that did not start the run.
 */
import type { RunEnvelope } from '../shared/src/schemas/run';
import { fleetBase } from '../server/test/fleetHarness';
import { api, startServer, type TestServer } from '../server/test/harness';
import { BENCH_LOG_CAP, benchCatalog, LINE, median, pct, s, type Row, type Sizes } from './cases';
import { readCurl } from './readers';

export interface BenchFleet {
  api: [TestServer, TestServer];
  worker: TestServer;
  stop(): Promise<void>;
}

export async function startBenchFleet(sizes: Sizes): Promise<BenchFleet> {
  const base = await fleetBase({ START_RATE_PER_MINUTE: '1000000', MAX_CONCURRENT_RUNS: '8', MAX_LOG_BYTES: String(BENCH_LOG_CAP) }, { redis: 'machine' });
  const catalog = `${benchCatalog(sizes)}  - name: sleeper\n    cmd: ["sleep", "600"]\n`;
  const env = base.env;
  const first = await startServer({ catalog, env, built: true });
  const [second, worker] = await Promise.all([startServer({ catalog, env, built: true }), startServer({ catalog, env, worker: true, built: true })]);
  return {
    api: [first, second],
    worker,
    async stop() {
      await Promise.all([first.stop(), second.stop(), worker.stop()]);
      await base.close();
    },
  };
}

const start = async (node: TestServer, name: string) => (await api<RunEnvelope>(node.url, 'POST', `/set/${name}`, undefined, { authorization: `Bearer ${node.adminKey}` })).body.run;

/** A million lines through Redis to a curl reader on each API node, against one SSE reader of a single server. */
export async function fleetThroughput(fleet: BenchFleet, sizes: Sizes, singleSseMs: number): Promise<Row> {
  const times: number[] = [];
  let mismatches = 0;
  for (let i = 0; i < sizes.repeat; i++) {
    const t0 = performance.now();
    const run = await start(fleet.api[0], 'lines');
    const results = await Promise.all(fleet.api.map((node) => readCurl(node, run.run_id, LINE)));
    times.push(Math.max(...results.map((r) => r.doneAt)) - t0);
    mismatches += results.reduce((n, r) => n + r.mismatches + Math.abs(r.lines - sizes.lines), 0);
  }
  const t = median(times);
  return {
    case: `${sizes.lines.toLocaleString('en')} lines through Redis, a curl reader on each of 2 API nodes (fleet)`,
    baseline: `${s(singleSseMs)} (single server, 1 SSE reader)`,
    measured: `${s(t)}, ${((sizes.lines / t) * 1000 / 1e6).toFixed(2)} M lines/s`,
    ratio: `${(t / singleSseMs).toFixed(1)}x the single server`,
    target: 'every line to both nodes',
    met: mismatches === 0,
    mismatches,
  };
}

/** Stops asked on the API node that did not start the run: from the request to the answer with the run stopped. */
export async function fleetStops(fleet: BenchFleet, count: number): Promise<Row> {
  const [a, b] = fleet.api;
  const times: number[] = [];
  let mismatches = 0;
  for (let i = 0; i < count; i++) {
    const run = await start(a, 'sleeper');
    for (let status = run.status; status !== 'running'; status = (await api<RunEnvelope>(a.url, 'GET', `/runs/${run.run_id}`, undefined, { authorization: `Bearer ${a.adminKey}` })).body.run.status) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const t0 = performance.now();
    const stopped = await api<RunEnvelope>(b.url, 'POST', `/runs/${run.run_id}/stop`, undefined, { authorization: `Bearer ${b.adminKey}` });
    times.push(performance.now() - t0);
    if (stopped.body.run.status !== 'stopped') mismatches++;
  }
  const p50 = pct(times, 50);
  const p99 = pct(times, 99);
  return {
    case: `${count} stops asked on the other API node (fleet)`,
    baseline: '—',
    measured: `stopped and answered: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    ratio: '—',
    target: 'the stop reaches the worker within 1 s',
    met: p99 < 1000 && mismatches === 0,
    mismatches,
  };
}
