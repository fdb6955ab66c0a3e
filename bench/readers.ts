/**
 * Log readers for the benchmarks, as a client would be: SSE over HTTP (Node's fetch, or curl), and
 * the typed tRPC client over WebSocket. Each checks every line against what the tool printed, in
 * order, and notes when the first and the last line arrived.
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestServer } from '../server/test/harness';
import { trpcClient } from '../server/test/harness';

export interface ReadResult {
  lines: number;
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
 * `curl -sN` into a file, the reference reader: the clock stops when curl has the last line;
 * the lines are checked afterwards, outside the measured time.
 */
export async function readCurl(server: TestServer, runId: string, expected: ((i: number) => string) | null): Promise<ReadResult> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'bench-curl-')), 'out.sse');
  let firstLineAt: number | null = null;
  const curl = spawn('curl', ['-sN', '-o', file, '-H', `Authorization: Bearer ${server.adminKey}`, `${server.url}/runs/${runId}/logs`], { stdio: 'ignore' });
  await new Promise((r) => curl.once('close', r));
  const doneAt = performance.now();
  const checker = new LineChecker(expected);
  const parse = sseParser(checker);
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  for await (const chunk of stream) parse(chunk as string);
  rmSync(path.dirname(file), { recursive: true, force: true });
  firstLineAt = checker.firstLineAt;
  return { ...checker.result(), firstLineAt, doneAt };
}

/**
 * The typed tRPC client over WebSocket. With `deferCheck` the lines are checked after the last one
 * arrived, outside the measured time (for one reader; many readers check as they go, to bound memory).
 */
export async function readWs(server: TestServer, runId: string, expected: ((i: number) => string) | null, onLine?: (line: string) => void, deferCheck = false): Promise<ReadResult> {
  const checker = new LineChecker(expected, onLine);
  const batches: string[][] = [];
  const { client, close } = trpcClient(server.url, server.adminKey);
  try {
    await new Promise<void>((resolve, reject) => {
      const sub = client.runs.logs.subscribe(
        { run_id: runId },
        {
          onData: ({ data }) => {
            if (data.type === 'lines') {
              checker.firstLineAt ??= performance.now();
              if (deferCheck) batches.push(data.lines);
              else for (const line of data.lines) checker.add(line);
            } else {
              sub.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        },
      );
    });
  } finally {
    await close();
  }
  const doneAt = performance.now();
  for (const batch of batches) for (const line of batch) checker.add(line);
  return { ...checker.result(), doneAt };
}
