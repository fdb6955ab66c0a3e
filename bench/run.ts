/**
 * Streaming benchmark: one million lines of 80 characters printed by a tool, read to the last line.
 * Each case runs beside the baseline in the same invocation (the machine is shared and noisy), and
 * is reported as a ratio to it. See bench/README.md.
 *
 *   npm run bench              3 repetitions, medians
 *   BENCH_REPEAT=5 npm run bench
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { RunEnvelope } from '../shared/src/schemas/run';
import { api, ROOT, startServer, trpcClient, type TestServer } from '../server/test/harness';

const LINES = 1_000_000;
const TOOL = ['seq', '-f', '%080g', '1', String(LINES)];
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Counts newline-terminated lines in a byte stream. */
function lineCounter() {
  let n = 0;
  return {
    add(chunk: Buffer) {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) n++;
    },
    get count() {
      return n;
    },
  };
}

/** The ceiling for any Node runner: a plain program reading the tool's pipe. */
async function baseline(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(TOOL[0] ?? '', TOOL.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const counter = lineCounter();
  child.stdout.on('data', (d: Buffer) => counter.add(d));
  await new Promise((r) => child.once('close', r));
  if (counter.count !== LINES) throw new Error(`baseline saw ${counter.count} lines`);
  return performance.now() - t0;
}

/** `curl -N` on the SSE route, from the start request to the last line. */
async function sse(server: TestServer): Promise<number> {
  const t0 = performance.now();
  const { run } = (await api<RunEnvelope>(server.url, 'POST', '/set/million')).body;
  const curl = spawn('curl', ['-sN', `${server.url}/runs/${run.run_id}/logs`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = 0;
  let tail = '';
  curl.stdout.on('data', (d: Buffer) => {
    const text = tail + d.toString('latin1');
    for (let i = text.indexOf('data: '); i >= 0; i = text.indexOf('data: ', i + 6)) if (i === 0 || text[i - 1] === '\n') lines++;
    const cut = text.lastIndexOf('\n');
    tail = text.slice(cut + 1);
    lines -= (tail.match(/^data: /) ? 1 : 0);
  });
  await new Promise((r) => curl.once('close', r));
  if (lines !== LINES + 1) throw new Error(`SSE saw ${lines - 1} lines`); // + the end event's data line
  return performance.now() - t0;
}

/** The typed tRPC client subscribed over WebSocket. */
async function ws(server: TestServer): Promise<number> {
  const { client, close } = trpcClient(server.url);
  const t0 = performance.now();
  const { run } = await client.runs.start.mutate({ name: 'million' });
  let lines = 0;
  await new Promise<void>((resolve, reject) => {
    const sub = client.runs.logs.subscribe(
      { run_id: run.run_id },
      {
        onData: ({ data }) => {
          if (data.type === 'lines') lines += data.lines.length;
          else {
            sub.unsubscribe();
            resolve();
          }
        },
        onError: reject,
      },
    );
  });
  const elapsed = performance.now() - t0;
  await close();
  if (lines !== LINES) throw new Error(`WebSocket saw ${lines} lines`);
  return elapsed;
}

async function main() {
  const server = await startServer({
    catalog: `tools:\n  - name: million\n    cmd: ${JSON.stringify(TOOL)}\n`,
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 25);
  const results: Record<string, number[]> = { baseline: [], sse: [], ws: [] };
  try {
    for (let i = 0; i < REPEAT; i++) {
      results.baseline?.push(await baseline());
      results.sse?.push(await sse(server));
      results.ws?.push(await ws(server));
    }
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
  const base = median(results.baseline ?? []);
  console.log(`one million 80-character lines, one reader, median of ${REPEAT} (server: ${path.relative(ROOT, 'server/src/main.ts')})`);
  console.log('case                         time      lines/s    ceiling share');
  for (const [name, label] of [
    ['baseline', 'plain pipe reader (ceiling)'],
    ['sse', 'SSE, curl -N'],
    ['ws', 'tRPC over WebSocket'],
  ] as const) {
    const t = median(results[name] ?? []);
    const share = base / t;
    console.log(`${label.padEnd(28)} ${(t / 1000).toFixed(2).padStart(5)} s  ${(LINES / (t / 1000) / 1e6).toFixed(2).padStart(6)} M   ${(share * 100).toFixed(0).padStart(5)}%`);
  }
  console.log(`server peak RSS during the cases: ${(peak / 2 ** 20).toFixed(0)} MiB`);
}

await main();
