/**
 * The benchmark cases. Each measures the real server (started by the caller) beside a baseline run
 * in the same invocation, and returns rows for the table. Sizes are parameters, so the same code
 * runs as a quick smoke test in `npm test` and at full size in `npm run bench`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { RunEnvelope, RunList } from '../shared/src/schemas/run';
import { api, startServer, tempDir, type TestServer } from '../server/test/harness';
import { openDatabase } from '../server/src/store/sqliteDb';
import { curlReader, readCurl, readSse, readWs, startWsReader, type ProcessReader, type ReadResult } from './readers';

export interface Sizes {
  /** Lines of the one-reader and ten-reader cases. */
  lines: number;
  /** Lines read by each of the many readers, and how many readers. */
  manyLines: number;
  manyReaders: number;
  /** Seconds of the 1,000 lines/s latency tool, and its readers. */
  latencySeconds: number;
  latencyReaders: number;
  /** Bytes of the large-output case. */
  bigBytes: number;
  shortRuns: number;
  recordedRuns: number;
  repeat: number;
  /** Starts of the server in each way of the start-up case (bench/startup.ts). */
  startups: number;
}

/** The bench server's MAX_LOG_BYTES. */
export const BENCH_LOG_CAP = 200 * 1024 * 1024;

export const FULL: Sizes = { lines: 1_000_000, manyLines: 20_000, manyReaders: 1000, latencySeconds: 5, latencyReaders: 100, bigBytes: 1024 ** 3, shortRuns: 200, recordedRuns: 100_000, repeat: 3, startups: 7 };
export const SMOKE: Sizes = { lines: 20_000, manyLines: 2_000, manyReaders: 20, latencySeconds: 1, latencyReaders: 5, bigBytes: 8 * 1024 ** 2, shortRuns: 20, recordedRuns: 2_000, repeat: 1, startups: 1 };

export interface Row {
  case: string;
  baseline: string;
  measured: string;
  ratio: string;
  target: string;
  met: boolean | null;
  /** Lines lost, repeated or out of order, over all readers. */
  mismatches: number;
}

export const LINE = (i: number) => String(i + 1).padStart(80, '0');
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
export const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** The tools the cases run; `node` prints monotonic timestamps (CLOCK_MONOTONIC, shared by all processes). */
export function benchCatalog(sizes: Sizes): string {
  const node = JSON.stringify(process.execPath);
  const ticker = `let n=0;const max=Number(process.argv[1]);const t=setInterval(()=>{process.stdout.write(process.hrtime.bigint()+'\\n');if(++n>=max)clearInterval(t)},1)`;
  const tools = [
    `  - name: lines\n    cmd: ["seq", "-f", "%080.0f", "1", "${sizes.lines}"]`,
    `  - name: many\n    cmd: ["seq", "-f", "%080.0f", "1", "${sizes.manyLines}"]`,
    `  - name: ticker\n    cmd: [${node}, "-e", ${JSON.stringify(ticker)}, "${sizes.latencySeconds * 1000}"]`,
    `  - name: big\n    cmd: ["bash", "-c", "yes $(printf 'x%.0s' {1..79}) | head -c ${sizes.bigBytes}"]`,
    `  - name: hello\n    cmd: ["echo", "hello"]`,
  ];
  return `tools:\n${tools.join('\n')}\n`;
}

/**
 * The bench server's NODE_OPTIONS: BENCH_NODE_OPTIONS (V8 flags to compare, such as
 * `--max-semi-space-size=4`), and with BENCH_CPU_PROF=<dir> a V8 CPU profile written there when it
 * stops (`node --cpu-prof`, sampled every 200 us), to open in Chrome's DevTools or read with bench/profile.ts.
 */
function nodeOptions(extra: string | undefined, profileDir: string | undefined): Record<string, string> {
  const options = [extra ?? '', profileDir ? `--cpu-prof --cpu-prof-dir=${path.resolve(profileDir)} --cpu-prof-interval=200` : ''].filter(Boolean).join(' ');
  return options ? { NODE_OPTIONS: options } : {};
}

export async function startBenchServer(sizes: Sizes, env: Record<string, string> = {}): Promise<TestServer> {
  return startServer({
    built: true,
    catalog: benchCatalog(sizes),
    // Logs up to 200 MB are kept whole (the million-line cases are 81 MB); the large-output case is capped.
    env: { START_RATE_PER_MINUTE: '1000000', METRICS_PORT: '0', MAX_CONCURRENT_RUNS: '8', RUN_TIMEOUT_S: '600', MAX_LOG_BYTES: String(BENCH_LOG_CAP), ...nodeOptions(process.env.BENCH_NODE_OPTIONS, process.env.BENCH_CPU_PROF), ...env },
  });
}

/** Samples the server's resident memory until stopped; answers the peak. */
function memorySampler(server: TestServer) {
  let peak = server.rss();
  const timer = setInterval(() => (peak = Math.max(peak, server.rss())), 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, server.rss());
  };
}

/** The ceiling: a plain Node program reading the tool's pipe. Answers the time and the lines seen. */
export async function pipeReader(argv: string[], onLine?: (line: string) => void): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  const child = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = 0;
  let tail = '';
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (d: string) => {
    if (!onLine) {
      for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) lines++;
      return;
    }
    const parts = (tail + d).split('\n');
    tail = parts.pop() ?? '';
    for (const p of parts) {
      lines++;
      onLine(p);
    }
  });
  await new Promise((r) => child.once('close', r));
  return { ms: performance.now() - t0, lines };
}

const start = async (server: TestServer, name: string) => (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;

/** What the one-reader case measured of SSE, the base of the ten-reader case. */
export interface OneReader {
  rows: Row[];
  sseMs: number;
  /** The server's CPU time for one SSE reader's run. */
  sseCpuMs: number;
}

/** Case 1: one reader, SSE (curl -N) and tRPC over WebSocket, against the pipe reader. */
export async function oneReader(server: TestServer, sizes: Sizes): Promise<OneReader> {
  const base: number[] = [];
  // Per run: its time, the server's CPU, and the reader's own CPU (where the reader can tell).
  const samples = () => ({ ms: [] as number[], cpu: [] as number[], client: [] as number[] });
  const sse = samples();
  const ws = samples();
  let mismatches = 0;
  const wsReader = await startWsReader(server);
  const timed = async (into: typeof sse, reader: (runId: string) => ProcessReader) => {
    const t0 = performance.now();
    const cpu0 = server.cpuMs();
    const run = await start(server, 'lines');
    const r = reader(run.run_id);
    into.ms.push((await r.done) - t0);
    into.cpu.push(server.cpuMs() - cpu0);
    const result = await r.check();
    if (result.cpuMs !== undefined) into.client.push(result.cpuMs);
    mismatches += result.mismatches + Math.abs(result.lines - sizes.lines);
  };
  try {
    for (let i = 0; i < sizes.repeat; i++) {
      base.push((await pipeReader(['seq', '-f', '%080.0f', '1', String(sizes.lines)])).ms);
      await timed(sse, (id) => curlReader(server, id, LINE));
      await timed(ws, (id) => wsReader.read(id));
    }
  } finally {
    await wsReader.stop();
  }
  const b = median(base);
  const sseMs = median(sse.ms);
  const wsMs = median(ws.ms);
  const row = (label: string, m: typeof sse, ratio: string, target: string, met: boolean): Row => ({
    case: `${sizes.lines.toLocaleString('en')} lines, 1 reader: ${label}`,
    baseline: `${s(b)} (pipe reader)`,
    measured: `${s(median(m.ms))}, ${((sizes.lines / median(m.ms)) * 1000 / 1e6).toFixed(2)} M lines/s; server CPU ${s(median(m.cpu))}${m.client.length ? `, reader CPU ${s(median(m.client))}` : ''}`,
    ratio: `${((b / median(m.ms)) * 100).toFixed(0)}% of the ceiling${ratio}`,
    target,
    met,
    mismatches,
  });
  // Issue 19's targets: the server's CPU scaled to a million lines, whatever the size run.
  const sseCpuPerMillion = (median(sse.cpu) * 1e6) / sizes.lines;
  return {
    sseMs,
    sseCpuMs: median(sse.cpu),
    rows: [
      row('SSE, curl -N', sse, '', '>= 70% of the ceiling, server CPU < 0.25 s per million lines', b / sseMs >= 0.7 && sseCpuPerMillion < 250),
      row('tRPC WebSocket', ws, `, ${(wsMs / sseMs).toFixed(2)}x SSE`, 'within 1.1x of SSE', wsMs <= sseMs * 1.1),
    ],
  };
}

/**
 * Case 2: one run read by 10 readers at once, 5 curl and 5 tRPC WebSocket clients, each a process
 * of its own; every line is checked once all are done.
 */
export async function tenReaders(server: TestServer, sizes: Sizes, one: OneReader): Promise<Row[]> {
  const starting = await Promise.allSettled(Array.from({ length: 5 }, () => startWsReader(server)));
  const wsReaders = starting.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  try {
    const failed = starting.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const idle = server.rss();
    const peak = memorySampler(server);
    const t0 = performance.now();
    const cpu0 = server.cpuMs();
    const run = await start(server, 'lines');
    const readers: ProcessReader[] = [];
    for (const wsReader of wsReaders) readers.push(wsReader.read(run.run_id), curlReader(server, run.run_id, LINE));
    const elapsed = Math.max(...(await Promise.all(readers.map((r) => r.done)))) - t0;
    const cpu = server.cpuMs() - cpu0;
    const top = peak();
    let mismatches = 0;
    let clientCpu = 0;
    for (const reader of readers) {
      const r = await reader.check();
      mismatches += r.mismatches + Math.abs(r.lines - sizes.lines);
      clientCpu += r.cpuMs ?? 0;
    }
    const ten = `${sizes.lines.toLocaleString('en')} lines, 10 readers (5 SSE, 5 WebSocket)`;
    return [
      {
        case: ten,
        baseline: `${s(one.sseMs)}, server CPU ${s(one.sseCpuMs)} (1 SSE reader)`,
        measured: `${s(elapsed)}; server CPU ${s(cpu)} (${(cpu / one.sseCpuMs).toFixed(1)}x), the 5 WebSocket readers' CPU ${s(clientCpu)}`,
        ratio: `${(elapsed / one.sseMs).toFixed(1)}x one reader`,
        target: '<= 3x one reader',
        met: elapsed / one.sseMs <= 3,
        mismatches,
      },
      {
        case: `${ten}: server memory`,
        baseline: `${mib(idle)} just before`,
        measured: `peak ${mib(top)}`,
        ratio: `+${mib(top - idle)}`,
        target: 'grows < 32 MiB',
        met: top - idle < 32 * 2 ** 20,
        mismatches,
      },
    ];
  } finally {
    await Promise.all(wsReaders.map((r) => r.stop()));
  }
}

/** Case 3: one run read by many subscribers in this process, half SSE, half WebSocket, each line checked as it arrives. */
export async function manyReaders(server: TestServer, readers: number, lines: number): Promise<Row> {
  const idle = server.rss();
  const peak = memorySampler(server);
  const t0 = performance.now();
  const run = await start(server, 'many');
  const results: ReadResult[] = await Promise.all(Array.from({ length: readers }, (_, i) => (i % 2 ? readWs : readSse)(server, run.run_id, LINE)));
  const elapsed = Math.max(...results.map((r) => r.doneAt)) - t0;
  const top = peak();
  const mismatches = results.reduce((n, r) => n + r.mismatches + Math.abs(r.lines - lines), 0);
  return {
    case: `${lines.toLocaleString('en')} lines, ${readers} readers (SSE and WebSocket)`,
    baseline: '—',
    measured: `${s(elapsed)}, server peak ${mib(top)} (idle ${mib(idle)})`,
    ratio: '—',
    target: 'all complete, server < 500 MiB',
    met: top < 500 * 2 ** 20 && mismatches === 0,
    mismatches,
  };
}

/** Case 4: a tool printing 1,000 lines a second; delay from a line written to a reader receiving it. */
export async function latency(server: TestServer, sizes: Sizes, readers: number): Promise<Row> {
  const delays: number[] = [];
  const record = (line: string) => {
    const written = BigInt(line);
    delays.push(Number(process.hrtime.bigint() - written) / 1e6);
  };
  const baseDelays: number[] = [];
  const node = process.execPath;
  const script = `let n=0;const max=Number(process.argv[1]);const t=setInterval(()=>{process.stdout.write(process.hrtime.bigint()+'\\n');if(++n>=max)clearInterval(t)},1)`;
  await pipeReader([node, '-e', script, String(sizes.latencySeconds * 200)], (l) => baseDelays.push(Number(process.hrtime.bigint() - BigInt(l)) / 1e6));
  const run = await start(server, 'ticker');
  const results = await Promise.all(Array.from({ length: readers }, (_, i) => (i % 2 ? readWs : readSse)(server, run.run_id, null, record)));
  const mismatches = results.reduce((n, r) => n + Math.abs(r.lines - sizes.latencySeconds * 1000), 0);
  const p50 = pct(delays, 50);
  const p99 = pct(delays, 99);
  return {
    case: `latency at 1,000 lines/s, ${readers} reader${readers > 1 ? 's' : ''}`,
    baseline: `p50 ${ms(pct(baseDelays, 50))}, p99 ${ms(pct(baseDelays, 99))} (pipe reader)`,
    measured: `p50 ${ms(p50)}, p99 ${ms(p99)}`,
    ratio: '—',
    target: 'p50 <= 5 ms, p99 <= 50 ms',
    met: p50 <= 5 && p99 <= 50,
    mismatches,
  };
}

/** Case 5: a tool printing a lot (1 GiB): server memory stays flat; the log is kept per the limits. */
export async function bigOutput(server: TestServer, sizes: Sizes): Promise<Row> {
  const idle = server.rss();
  const peak = memorySampler(server);
  const t0 = performance.now();
  const run = await start(server, 'big');
  const r = await readCurl(server, run.run_id, null);
  const elapsed = r.doneAt - t0;
  const top = peak();
  const final = (await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;
  // Past the cap the log keeps its head and tail around one marker line: the reader must get exactly that.
  const capped = sizes.bigBytes > BENCH_LOG_CAP;
  const expectedLines = capped ? null : Math.ceil(sizes.bigBytes / 80);
  const mismatches = capped ? Number(!final.log_truncated || final.log_bytes > BENCH_LOG_CAP + 200) : Math.abs(r.lines - (expectedLines ?? 0));
  return {
    case: `${mib(sizes.bigBytes)} of output, 1 SSE reader`,
    baseline: `idle ${mib(idle)}`,
    measured: `${s(elapsed)}, peak ${mib(top)} (+${mib(top - idle)}), log ${mib(final.log_bytes)}${final.log_truncated ? ` (capped at ${mib(BENCH_LOG_CAP)})` : ''}`,
    ratio: `+${mib(top - idle)} over idle`,
    target: 'server memory grows < 64 MiB',
    met: top - idle < 64 * 2 ** 20,
    mismatches,
  };
}

/** Case 6: many short runs started at once; start-to-first-byte, and GET /runs meanwhile. */
export async function shortRuns(server: TestServer, sizes: Sizes): Promise<Row> {
  const auth = { authorization: `Bearer ${server.adminKey}` };
  const listTimes: number[] = [];
  let storming = true;
  const lister = (async () => {
    while (storming) {
      const t = performance.now();
      await api<RunList>(server.url, 'GET', '/runs?limit=50', undefined, auth);
      listTimes.push(performance.now() - t);
    }
  })();
  const healthBase: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await fetch(`${server.url}/health`);
    healthBase.push(performance.now() - t);
  }
  const firstBytes = await Promise.all(
    Array.from({ length: sizes.shortRuns }, async () => {
      const t0 = performance.now();
      const run = await start(server, 'hello');
      const r = await readSse(server, run.run_id, () => 'hello');
      return { ms: (r.firstLineAt ?? NaN) - t0, bad: r.mismatches + Math.abs(r.lines - 1) };
    }),
  );
  storming = false;
  await lister;
  const fb = firstBytes.map((f) => f.ms);
  return {
    case: `${sizes.shortRuns} short runs at once (MAX_CONCURRENT_RUNS=8)`,
    baseline: `GET /health p50 ${ms(pct(healthBase, 50))} before`,
    measured: `first byte p50 ${ms(pct(fb, 50))}, p99 ${ms(pct(fb, 99))}; GET /runs p99 ${ms(pct(listTimes, 99))} (${listTimes.length} calls)`,
    ratio: '—',
    target: 'all start and stream; lists stay responsive',
    met: firstBytes.every((f) => Number.isFinite(f.ms)),
    mismatches: firstBytes.reduce((n, f) => n + f.bad, 0),
  };
}

/** Fills a run store with `n` finished runs, straight into SQLite (before the server opens it). */
export function seedRuns(db: Database.Database, n: number): void {
  const insert = db.prepare(
    `INSERT INTO runs (run_id, name, cmd, params, status, exit_code, created_at, started_at, finished_at, requested_by, end_reason, log_bytes)
     VALUES (@run_id, @name, '["echo"]', '{}', @status, @exit_code, @at, @at, @at, 'bench', 'exit', 10)`,
  );
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const at = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
      const failed = i % 10 === 0;
      insert.run({ run_id: `seed-${i}`, name: i % 3 ? 'hello' : 'lines', status: failed ? 'failed' : 'succeeded', exit_code: failed ? 1 : 0, at });
    }
  })();
}

/** Case 7: paging through many recorded runs. */
export async function paging(sizes: Sizes): Promise<Row> {
  const logDir = tempDir();
  const db = openDatabase(path.join(logDir, 'oss-runner.db'));
  seedRuns(db, sizes.recordedRuns);
  db.close();
  const server = await startServer({ catalog: benchCatalog(sizes), logDir });
  try {
    const auth = { authorization: `Bearer ${server.adminKey}` };
    const health: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await fetch(`${server.url}/health`);
      health.push(performance.now() - t);
    }
    const pages: number[] = [];
    let cursor: string | null = null;
    let seen = 0;
    do {
      const t = performance.now();
      const page: RunList = (await api<RunList>(server.url, 'GET', `/runs?limit=500${cursor ? `&cursor=${cursor}` : ''}`, undefined, auth)).body;
      pages.push(performance.now() - t);
      seen += page.items.length;
      cursor = page.next_cursor;
    } while (cursor);
    const filtered: number[] = [];
    for (const q of ['status=failed', 'name=lines', 'status=failed&name=lines']) {
      const t = performance.now();
      await api(server.url, 'GET', `/runs?limit=50&${q}`, undefined, auth);
      filtered.push(performance.now() - t);
    }
    return {
      case: `GET /runs over ${sizes.recordedRuns.toLocaleString('en')} runs (pages of 500)`,
      baseline: `GET /health p50 ${ms(pct(health, 50))}`,
      measured: `page p50 ${ms(pct(pages, 50))}, p99 ${ms(pct(pages, 99))}; filtered first page max ${ms(Math.max(...filtered))}`,
      ratio: `${(pct(pages, 50) / pct(health, 50)).toFixed(1)}x /health`,
      target: 'every run paged once',
      met: seen === sizes.recordedRuns,
      mismatches: Math.abs(seen - sizes.recordedRuns),
    };
  } finally {
    await server.stop();
  }
}
