/**
 * The web app's log readers (web/src/features/runs/logRanges.ts) against the real server, in Node: a
 * running log opened at its end and numbered by the server's count of lines (GET /runs/{id}/log-lines)
 * in the orders a busy server can answer in (a count taken before the log grew past the end read, or
 * after it grew past it), and a finished log's end numbered before the rest of it is read. Every line
 * is checked against its number: `seq` writes line n as n.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLineMark } from '../../shared/src/schemas/logEvent';
import type { RunEnvelope } from '../../shared/src/schemas/run';
import type { LogToken } from '../../shared/src/schemas/auth';
import type { LogLines } from '../../web/src/features/runs/logLines';
import { readWritten } from '../../web/src/features/runs/logFollow';
import { readLog, TAIL_BYTES, type LineMark } from '../../web/src/features/runs/logRanges';
import { api, startServer, waitFor, type TestServer } from './harness';

/** Lines of 81 bytes: 1,000,000 of them take a moment to write, 1 MB every ~12,000 lines. */
const CATALOG = `
tools:
  - name: numbers
    description: numbered lines, fast, then a pause while it is still running
    cmd: ["bash", "-c", "seq -f '%080.0f' 1 600000; sleep 2; seq -f '%080.0f' 600001 1000000; sleep 30"]
  - name: flood
    description: 20,000 numbered lines every 0.1 s for 3 s (16 MB/s), then a pause while it is still running
    cmd: ["bash", "-c", "for i in $(seq 0 29); do seq -f '%080.0f' $((i * 20000 + 1)) $((i * 20000 + 20000)); sleep 0.1; done; sleep 30"]
  - name: finished
    description: numbered lines, then the end
    cmd: ["seq", "-f", "%080.0f", "1", "300000"]
`;
const lineText = (n: number) => String(n).padStart(80, '0');

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ catalog: CATALOG });
});
afterAll(() => server?.stop());

async function start(tool: string): Promise<string> {
  return (await api<RunEnvelope>(server.url, 'POST', `/set/${tool}`)).body.run.run_id;
}
const logBytes = async (runId: string) => (await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`)).body.run.log_bytes;
const markOf = async (runId: string) => (await api<LogLineMark>(server.url, 'GET', `/runs/${runId}/log-lines`)).body;

function readerOf(runId: string) {
  return {
    path: `${server.url}/runs/${runId}/log`,
    token: async () => (await api<LogToken>(server.url, 'POST', `/runs/${runId}/log-token`)).body.token,
    signal: new AbortController().signal,
  };
}

/** Every line shown is the line of its number (lines not read yet are empty); answers how many were. */
function checkNumbers(lines: LogLines): number {
  let known = 0;
  for (let i = 0; i < lines.count; i++) {
    const text = lines.text(i);
    if (text === '') continue;
    if (text !== lineText(i + 1)) throw new Error(`line ${i + 1} reads ${JSON.stringify(text.slice(0, 90))}`);
    known++;
  }
  return known;
}

/** Lines at the start of `lines` that are counted but empty (not read yet). */
function countedBefore(lines: LogLines): number {
  let i = 0;
  while (i < lines.count && lines.text(i) === '') i++;
  return i;
}

describe("the web app's log readers", () => {
  it('a running log whose count was taken before it grew past the end read is counted again, and numbered right', async () => {
    const runId = await start('numbers');
    await waitFor('a megabyte written', async () => ((await logBytes(runId)) > 1_000_000 ? true : undefined));
    const stale = await markOf(runId);
    await waitFor('the log grown well past that count', async () => ((await logBytes(runId)) > stale.offset + 4 * TAIL_BYTES ? true : undefined));
    const asked: LineMark[] = [];
    const shown: LogLines[] = [];
    const written = await readWritten({
      ...readerOf(runId),
      // The first answer is the stale count; then the server's as it is now.
      mark: async () => {
        const mark = asked.length === 0 ? stale : await markOf(runId);
        asked.push(mark);
        return mark;
      },
      show: (lines) => void shown.push(lines),
    });
    expect(asked.length).toBeGreaterThanOrEqual(2);
    expect(written.lines.numbered).toBe(true);
    // Its end is here, numbered, before its start is read.
    expect(checkNumbers(written.lines)).toBeLessThan(written.lines.count);
    expect(written.lines.text(written.lines.count - 1)).toBe(lineText(written.lines.count));
    expect(shown.every((lines) => !lines.numbered || checkNumbers(lines) > 0)).toBe(true);
    const whole = await written.head!();
    expect(whole.count).toBe(written.lines.count);
    expect(checkNumbers(whole)).toBe(whole.count);
    expect(written.next).toBe(whole.count * 81);
  });

  it("a running log's count taken after it grew past the end read is read up to, and numbers it", async () => {
    const runId = await start('numbers');
    await waitFor('a megabyte written', async () => ((await logBytes(runId)) > 1_000_000 ? true : undefined));
    const before = await logBytes(runId);
    const written = await readWritten({
      ...readerOf(runId),
      // Answers once the log has grown past what the first read could have seen.
      mark: async () => {
        await waitFor('the log grown', async () => ((await logBytes(runId)) > before + 2 * TAIL_BYTES ? true : undefined));
        return markOf(runId);
      },
      show: () => undefined,
    });
    expect(written.lines.numbered).toBe(true);
    expect(written.lines.text(written.lines.count - 1)).toBe(lineText(written.lines.count));
    expect(checkNumbers(await written.head!())).toBe(written.lines.count);
  });

  it('a running log that keeps growing fast is looked at while it grows, not read whole: each look numbered, what came between read with its start', async () => {
    const runId = await start('flood');
    await waitFor('a megabyte written', async () => ((await logBytes(runId)) > 1_000_000 ? true : undefined));
    // The bytes of the log the reader fetched while following it (not its start, read by `head` afterwards).
    let fetched = 0;
    const shown: LogLines[] = [];
    const reader = readerOf(runId);
    const written = await readWritten({
      ...reader,
      token: async () => reader.token(),
      mark: () => markOf(runId),
      show: (lines) => {
        shown.push(lines);
        fetched = Math.max(fetched, lines.count - countedBefore(lines));
      },
    });
    expect(written.lines.count).toBe(600_000);
    expect(written.lines.text(599_999)).toBe(lineText(600_000));
    // Looked at several times, each look's lines numbered right; most of the flood not read while it lasted.
    const numbered = shown.filter((lines) => lines.numbered);
    expect(numbered.length).toBeGreaterThan(3);
    for (const lines of numbered) expect(checkNumbers(lines)).toBeGreaterThan(0);
    expect(fetched).toBeLessThan(300_000);
    const whole = await written.head!();
    expect(checkNumbers(whole)).toBe(600_000);
    expect(written.next).toBe(600_000 * 81);
    await api(server.url, 'POST', `/runs/${runId}/stop`);
  });

  it("a finished log's end is numbered by the count before the rest is read; without a count, once it is", async () => {
    const runId = await start('finished');
    await waitFor('the run to end', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${runId}`)).body.run.finished_at ? true : undefined));
    for (const counted of [true, false]) {
      const shown: { lines: LogLines; loading: boolean }[] = [];
      await readLog({
        ...readerOf(runId),
        mark: counted ? () => markOf(runId) : () => Promise.reject(new Error('no count here')),
        show: (lines, progress) => void shown.push({ lines, loading: progress !== null }),
      });
      const loading = shown.filter((s) => s.loading);
      expect(loading.length).toBeGreaterThan(0);
      expect(loading.some((s) => s.lines.numbered)).toBe(counted);
      for (const s of loading) if (s.lines.numbered) expect(s.lines.text(s.lines.count - 1)).toBe(lineText(300_000));
      const last = shown.at(-1)!;
      expect(last.loading).toBe(false);
      expect(last.lines.count).toBe(300_000);
      expect(checkNumbers(last.lines)).toBe(300_000);
    }
  });
});
