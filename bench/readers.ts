/**
 * Log readers for the benchmarks, as a client would be: SSE over HTTP (Node's fetch, or curl), and
 * the typed tRPC client over WebSocket. Each checks every line against what the tool printed, in
 * order. Readers whose time is measured (curl, bench/wsReader.ts) run in processes of their own, as
 * users' do; the many-reader and latency cases read in this process and check as lines arrive.
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestServer } from '../server/test/harness';
import { trpcClient } from '../server/test/harness';

export interface ReadResult {
  lines: number;
  /** The reader's own CPU time while reading, where it can tell (bench/wsReader.ts). */
  cpuMs?: number;
  /** Lines that were not the expected ones (lost, repeated or out of order). */
  mismatches: number;
  firstLineAt: number | null;
  doneAt: number;
}

/** Checks each arriving line against `expected(i)` (or, when null, only counts). */
class LineChecker {
  lines = 0;
  mismatches = 0;
  firstLineAt: number | null = null;
  constructor(
    private readonly expected: ((i: number) => string) | null,
    private readonly onLine?: (line: string) => void,
  ) {}

  add(line: string) {
    this.firstLineAt ??= performance.now();
    if (this.expected && line !== this.expected(this.lines)) this.mismatches++;
    this.onLine?.(line);
    this.lines++;
  }

  result(): ReadResult {
    return { lines: this.lines, mismatches: this.mismatches, firstLineAt: this.firstLineAt, doneAt: performance.now() };
  }
}

/** Parses an SSE byte stream: `data:` lines of unnamed events are log lines; `event: end` ends it. */
function sseParser(checker: LineChecker) {
  let tail = '';
  let inEnd = false;
  return (chunk: string) => {
    const text = tail + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.startsWith('data: ')) {
        if (!inEnd) checker.add(line.slice(6));
      } else if (line === 'event: end') inEnd = true;
      else if (line === '') inEnd = false;
    }
    tail = text.slice(start);
  };
}

export async function readSse(server: TestServer, runId: string, expected: ((i: number) => string) | null, onLine?: (line: string) => void): Promise<ReadResult> {
  const checker = new LineChecker(expected, onLine);
  const res = await fetch(`${server.url}/runs/${runId}/logs`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  if (!res.ok || !res.body) throw new Error(`SSE answered ${res.status}`);
  const parse = sseParser(checker);
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parse(decoder.decode(r.value, { stream: true }));
  return checker.result();
}

/**
 * A reader in a process of its own, as users' readers are: the clock stops when it has the run's
 * last line; what it received is checked afterwards, once every reader is done, so no reader's
 * checking slows another that is still reading.
 */
export interface ProcessReader {
  /** Resolves with the time (performance.now()) the reader had the last line. */
  done: Promise<number>;
  /** Checks the lines it received; call after `done`. */
  check(): Promise<ReadResult>;
}

/** `curl -sN` into a file, the reference reader; its lines are checked against `expected(i)` (or, when null, only counted). */
export function curlReader(server: Pick<TestServer, 'url' | 'adminKey'>, runId: string, expected: ((i: number) => string) | null): ProcessReader {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'bench-curl-')), 'out.sse');
  const curl = spawn('curl', ['-sN', '-o', file, '-H', `Authorization: Bearer ${server.adminKey}`, `${server.url}/runs/${runId}/logs`], { stdio: 'ignore' });
  const done = new Promise<number>((resolve) => curl.once('close', () => resolve(performance.now())));
  return {
    done,
    async check() {
      const doneAt = await done;
      const checker = new LineChecker(expected);
      const parse = sseParser(checker);
      for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) parse(chunk as string);
      rmSync(path.dirname(file), { recursive: true, force: true });
      return { ...checker.result(), firstLineAt: null, doneAt };
    },
  };
}

/** curl, checked at once: for cases with one reader at a time. */
export async function readCurl(server: TestServer, runId: string, expected: ((i: number) => string) | null): Promise<ReadResult> {
  const reader = curlReader(server, runId, expected);
  await reader.done;
  return reader.check();
}

/**
 * Starts bench/wsReader.ts (the typed tRPC client over WebSocket in a process of its own) and
 * waits until it is ready, so its start-up is outside the measured time. `read(runId)` hands it a
 * run of the bench's `lines` tool (checked against LINE); `stop()` ends the process.
 */
export async function startWsReader(server: TestServer): Promise<{ read(runId: string): ProcessReader; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'wsReader.ts'), server.url], {
    env: { ...process.env, BENCH_KEY: server.adminKey },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Its answers ("ready", then "done" and the check per run) come in the order asked.
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | null = null;
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  child.once('exit', (code) => {
    exited = new Error(`bench/wsReader.ts exited (${code})`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  // Writing to a reader that has exited fails here; the answer it will never give says why.
  child.stdin.on('error', () => {});
  const ask = (command: string | null) => {
    if (exited) return Promise.reject(exited);
    const answer = new Promise<string>((resolve, reject) => waiting.push({ resolve, reject }));
    if (command) child.stdin.write(`${command}\n`);
    return answer;
  };
  if ((await ask(null)) !== 'ready') throw new Error('bench/wsReader.ts did not start');
  return {
    read(runId) {
      const done = ask(`read ${runId}`).then(() => performance.now());
      return {
        done,
        async check() {
          const doneAt = await done;
          const { lines, mismatches, cpuMs } = JSON.parse(await ask('check')) as { lines: number; mismatches: number; cpuMs: number };
          return { lines, mismatches, cpuMs, firstLineAt: null, doneAt };
        },
      };
    },
    async stop() {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

type LogClient = ReturnType<typeof trpcClient>['client'];

/**
 * Follows a run's log with the typed tRPC client over WebSocket, handing each event's lines to
 * `onLines`, until the run's end event; fails if the subscription ends first (a server shutting down).
 */
export function followLog(client: LogClient, runId: string, onLines: (lines: string[]) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sub = client.runs.logs.subscribe(
      { run_id: runId },
      {
        onData: ({ data }) => {
          if (data.type === 'lines') onLines(data.lines);
          else {
            // Resolved first: unsubscribing completes the subscription, which a finished read ignores.
            resolve();
            sub.unsubscribe();
          }
        },
        onError: reject,
        onComplete: () => reject(new Error('the subscription ended before the run did')),
      },
    );
  });
}

/** The typed tRPC client over WebSocket in this process, checking every line as it arrives. */
export async function readWs(server: TestServer, runId: string, expected: ((i: number) => string) | null, onLine?: (line: string) => void): Promise<ReadResult> {
  const checker = new LineChecker(expected, onLine);
  const { client, close } = trpcClient(server.url, server.adminKey);
  try {
    await followLog(client, runId, (lines) => {
      for (const line of lines) checker.add(line);
    });
  } finally {
    await close();
  }
  return checker.result();
}
