/**
 * Log readers for the benchmarks, as a client would be: SSE over HTTP (Node's fetch, or curl), and
 * the typed tRPC client over WebSocket. Each checks every line against what the tool printed, in
 * order, and notes when the first and the last line arrived.
 */
import { spawn } from 'node:child_process';
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

/** `curl -sN`, the reference reader. */
export async function readCurl(server: TestServer, runId: string, expected: ((i: number) => string) | null): Promise<ReadResult> {
  const checker = new LineChecker(expected);
  const curl = spawn('curl', ['-sN', '-H', `Authorization: Bearer ${server.adminKey}`, `${server.url}/runs/${runId}/logs`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const parse = sseParser(checker);
  curl.stdout.setEncoding('utf8');
  curl.stdout.on('data', (d: string) => parse(d));
  await new Promise((r) => curl.once('close', r));
  return checker.result();
}

export async function readWs(server: TestServer, runId: string, expected: ((i: number) => string) | null, onLine?: (line: string) => void): Promise<ReadResult> {
  const checker = new LineChecker(expected, onLine);
  const { client, close } = trpcClient(server.url, server.adminKey);
  try {
    await new Promise<void>((resolve, reject) => {
      const sub = client.runs.logs.subscribe(
        { run_id: runId },
        {
          onData: ({ data }) => {
            if (data.type === 'lines') for (const line of data.lines) checker.add(line);
            else {
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
  return checker.result();
}
