import path from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogToken } from '../../shared/src/schemas/auth';
import type { LogEventData, LogTimes } from '../../shared/src/schemas/logEvent';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { api, endRun, fetchAuthed, linesOf, rawLog, readSse, ROOT, startServer, trpcClient, trpcSseClient, waitFor, type TestServer } from './harness';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ catalogFile: path.join(ROOT, 'server/test/fixtures/catalog.yaml') });
});
afterAll(() => server.stop());

const start = async (name: string) => (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`)).body.run;
const expectedLines = (n: number) => Array.from({ length: n }, (_, i) => `line ${String(i + 1).padStart(6, '0')}`);

interface Tracked {
  id: string;
  data: LogEventData;
}

/** Collects a tRPC log subscription until its `end` event. */
function subscribeAll(
  subscribe: (input: { run_id: string; lastEventId?: string }, opts: { onData: (e: Tracked) => void; onError: (e: unknown) => void }) => { unsubscribe: () => void },
  input: { run_id: string; lastEventId?: string },
): Promise<Tracked[]> {
  return new Promise((resolve, reject) => {
    const events: Tracked[] = [];
    const sub = subscribe(input, {
      onData: (e) => {
        events.push(e);
        if (e.data.type === 'end') {
          sub.unsubscribe();
          resolve(events);
        }
      },
      onError: reject,
    });
  });
}
const trackedLines = (events: Tracked[]) => events.flatMap((e) => (e.data.type === 'lines' ? e.data.lines : []));

describe('SSE', () => {
  it('streams a 200,000-line run complete and in order, batched, ending with the final run', async () => {
    const run = await start('lines');
    const res = await fetchAuthed(`${server.url}/runs/${run.run_id}/logs`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toContain('no-cache');
    await res.body?.cancel();

    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    expect(linesOf(events)).toEqual(expectedLines(200_000));
    expect(events.length).toBeLessThan(2000); // lines travel in batches
    const ids = events.map((e) => Number(e.id));
    expect(ids.every((id, i) => i === 0 || id >= (ids[i - 1] ?? 0))).toBe(true);
    const final = endRun(events);
    expect(final).toMatchObject({ run_id: run.run_id, status: 'succeeded', exit_code: 0 });
    expect(Number(events.at(-1)?.id)).toBe(final.log_bytes);
  });

  it('resumes right after any event id, by header or query, with nothing lost or repeated', async () => {
    const run = await start('lines');
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    const all = linesOf(events);
    for (const index of [0, Math.floor(events.length / 3), Math.floor(events.length / 2), events.length - 2]) {
      const id = events[index]?.id ?? '';
      const seen = linesOf(events.slice(0, index + 1)).length;
      const byHeader = await readSse(`${server.url}/runs/${run.run_id}/logs`, { 'Last-Event-ID': id });
      expect(linesOf(byHeader.events)).toEqual(all.slice(seen));
      const byQuery = await readSse(`${server.url}/runs/${run.run_id}/logs?last_event_id=${id}`);
      expect(linesOf(byQuery.events)).toEqual(all.slice(seen));
      expect(byQuery.events.at(-1)?.event).toBe('end');
    }
  });

  it('resumes a live run after a disconnect with nothing lost or repeated', async () => {
    const run = await start('ticker');
    const first = await readSse(`${server.url}/runs/${run.run_id}/logs`, {}, (e) => (linesOf([e]).some((l) => l === 'tick40') ? false : undefined));
    const lastId = first.events.at(-1)?.id ?? '';
    const { status } = (await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run;
    expect(status).toBe('running');
    const rest = await readSse(`${server.url}/runs/${run.run_id}/logs`, { 'Last-Event-ID': lastId });
    expect([...linesOf(first.events), ...linesOf(rest.events)]).toEqual(Array.from({ length: 300 }, (_, i) => `tick${i + 1}`));
  });

  it('works with EventSource and a run-bound log token: onmessage gets the lines as text, `end` carries the run', async () => {
    const run = await start('hello');
    const { body: token } = await api<LogToken>(server.url, 'POST', `/runs/${run.run_id}/log-token`);
    expect(Date.parse(token.expires_at) - Date.now()).toBeLessThanOrEqual(300_000);
    const es = new EventSource(`${server.url}/runs/${run.run_id}/logs?access_token=${token.token}`);
    const messages: string[] = [];
    es.onmessage = (e) => messages.push(e.data as string);
    const final = await new Promise<Run>((resolve, reject) => {
      es.addEventListener('end', (e) => {
        es.close();
        resolve(JSON.parse((e as MessageEvent<string>).data) as Run);
      });
      es.onerror = () => reject(new Error('EventSource error'));
    });
    expect(messages).toEqual(['Hello OSS Runner']);
    expect(final.status).toBe('succeeded');
  });

  it('turns bytes that are not UTF-8 into U+FFFD and ends lines at \\n, \\r\\n and \\r, the same over WebSocket; the raw log keeps the bytes', async () => {
    const run = await start('bytes');
    const expected = ['café \uFFFD\uFFFD bad', 'CR', 'LF', '"q" \\ \t\x01', 'last'];
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    expect(linesOf(events)).toEqual(expected);
    // The WebSocket message is made from JSON encoded once per chunk: quotes, backslashes and control characters escaped.
    const { client, close } = trpcClient(server.url);
    try {
      expect(trackedLines(await subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: run.run_id }))).toEqual(expected);
    } finally {
      await close();
    }
    const raw = await rawLog(server.url, run.run_id);
    expect(raw.equals(Buffer.from('caf\xc3\xa9 \xff\xfe bad\r\nCR\rLF\n"q" \\ \t\x01\nlast', 'latin1'))).toBe(true);
  });

  it('carries a multi-megabyte line as several data lines and keeps it whole in the raw log', async () => {
    const run = await start('longline');
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`);
    const lines = linesOf(events);
    expect(lines.at(-1)).toBe('after');
    const pieces = lines.slice(0, -1);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((p) => p.length <= 256 * 1024)).toBe(true);
    expect(pieces.join('')).toBe('a'.repeat(3_000_000));
    const raw = await (await fetchAuthed(`${server.url}/runs/${run.run_id}/log`)).text();
    expect(raw).toBe('a'.repeat(3_000_000) + '\nafter\n');
  });
});

describe('tRPC', () => {
  it('streams over WebSocket, resumes from lastEventId, and shares one id space with SSE', async () => {
    const run = await start('lines');
    const { client, close } = trpcClient(server.url);
    try {
      const events = await subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: run.run_id });
      expect(trackedLines(events)).toEqual(expectedLines(200_000));
      const end = events.at(-1);
      expect(end?.data.type === 'end' && end.data.run.status).toBe('succeeded');

      const middle = Math.floor(events.length / 2);
      const seen = trackedLines(events.slice(0, middle + 1)).length;
      const resumed = await subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: run.run_id, lastEventId: events[middle]?.id ?? '' });
      expect(trackedLines(resumed)).toEqual(expectedLines(200_000).slice(seen));

      // One id space: an id from WebSocket resumes SSE, and an id from SSE resumes WebSocket.
      const overSse = await readSse(`${server.url}/runs/${run.run_id}/logs`, { 'Last-Event-ID': events[middle]?.id ?? '' });
      expect(linesOf(overSse.events)).toEqual(expectedLines(200_000).slice(seen));
      const sseEvents = (await readSse(`${server.url}/runs/${run.run_id}/logs`)).events;
      const sseMiddle = Math.floor(sseEvents.length / 3);
      const sseSeen = linesOf(sseEvents.slice(0, sseMiddle + 1)).length;
      const overWs = await subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: run.run_id, lastEventId: sseEvents[sseMiddle]?.id ?? '' });
      expect(trackedLines(overWs)).toEqual(expectedLines(200_000).slice(sseSeen));
    } finally {
      await close();
    }
  });

  it('serves queries and mutations over HTTP with the REST field names', async () => {
    const { client, close } = trpcClient(server.url);
    try {
      const catalog = await client.catalog.list.query();
      expect(catalog.items.map((t) => t.name)).toContain('hello');
      const { run } = await client.runs.start.mutate({ name: 'sleeper' });
      expect(run.status).toBe('running');
      const list = await client.runs.list.query({ name: 'sleeper', limit: 1 });
      expect(list.items[0]?.run_id).toBe(run.run_id);
      const stopped = await client.runs.stop.mutate({ run_id: run.run_id });
      expect(stopped.run).toMatchObject({ status: 'stopped', end_reason: 'stopped' });
      expect((await client.runs.get.query({ run_id: run.run_id })).run.status).toBe('stopped');
      await expect(client.runs.get.query({ run_id: 'nope' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    } finally {
      await close();
    }
  });

  it('streams over tRPC’s own SSE transport too', async () => {
    const run = await start('lines');
    const client = trpcSseClient(server.url);
    const events = await subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: run.run_id });
    expect(trackedLines(events)).toEqual(expectedLines(200_000));
  });

  it('tells live lists of every run change: created, started, ended', async () => {
    const { client, close } = trpcClient(server.url);
    try {
      const seen: Run[] = [];
      let runId = '';
      const ended = new Promise<void>((resolve, reject) => {
        const sub = client.runs.onChange.subscribe(undefined, {
          onStarted: () => void start('hello').then((r) => (runId = r.run_id)),
          onData: (run) => {
            seen.push(run);
            if (run.run_id === runId && run.status === 'succeeded') {
              sub.unsubscribe();
              resolve();
            }
          },
          onError: reject,
        });
      });
      await ended;
      expect(seen.filter((r) => r.run_id === runId).map((r) => r.status)).toEqual(['queued', 'running', 'succeeded']);
    } finally {
      await close();
    }
  });

  it('ends a subscription to an unknown run with NOT_FOUND', async () => {
    const { client, close } = trpcClient(server.url);
    try {
      await expect(subscribeAll((input, opts) => client.runs.logs.subscribe(input, opts), { run_id: 'nope' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    } finally {
      await close();
    }
  });
});

describe('live', () => {
  it('delivers a line while the run is still going', async () => {
    const run = await start('sleeper');
    const { events } = await readSse(`${server.url}/runs/${run.run_id}/logs`, {}, (e) => (e.data.includes('started') ? false : undefined));
    expect(linesOf(events)).toEqual(['started']);
    await api(server.url, 'POST', `/runs/${run.run_id}/stop`);
    await waitFor('stopped', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.status === 'stopped' ? true : undefined));
  });

  it('says when each part of the log arrived: sparse, increasing, from any byte on, over what is readable', async () => {
    const run = await start('ticker');
    // While it runs: entries only for what of the log is readable.
    const early = await waitFor('a few ticks', async () => {
      const { body } = await api<LogTimes>(server.url, 'GET', `/runs/${run.run_id}/log-times`);
      return body.offsets.length >= 3 ? body : undefined;
    });
    expect(early.offsets.every((o) => o < early.log_bytes)).toBe(true);
    await waitFor('the run to end', async () => ((await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`)).body.run.finished_at ? true : undefined));

    const { status, body } = await api<LogTimes>(server.url, 'GET', `/runs/${run.run_id}/log-times`);
    expect(status).toBe(200);
    const log = (await rawLog(server.url, run.run_id)).toString();
    expect(body).toMatchObject({ run_id: run.run_id, started_at: run.started_at ?? body.started_at, log_bytes: log.length, complete: true });
    expect(body.started_at).not.toBeNull();
    // 300 lines 10 ms or more apart, one entry per 100 ms at most: a handful, never one a line.
    expect(body.offsets.length).toBeGreaterThan(5);
    expect(body.offsets.length).toBeLessThan(100);
    expect(body.offsets[0]).toBe(0);
    for (let i = 1; i < body.offsets.length; i++) {
      expect(body.offsets[i]).toBeGreaterThan(body.offsets[i - 1] ?? 0);
      expect(body.elapsed_ms[i] ?? 0).toBeGreaterThanOrEqual((body.elapsed_ms[i - 1] ?? 0) + 100);
      // Each entry starts where a line does: output arrives in lines here.
      expect(log[(body.offsets[i] ?? 0) - 1]).toBe('\n');
    }
    expect(body.elapsed_ms.at(-1)).toBeGreaterThan(1000);
    // From a byte on: the entry in force there first, then the rest.
    const middle = body.offsets[3] ?? 0;
    const from = await api<LogTimes>(server.url, 'GET', `/runs/${run.run_id}/log-times?from=${middle + 1}`);
    expect(from.body.offsets).toEqual(body.offsets.slice(3));
    expect(from.body.elapsed_ms).toEqual(body.elapsed_ms.slice(3));
    expect((await api(server.url, 'GET', `/runs/${run.run_id}/log-times?from=-1`)).status).toBe(400);
    expect((await api(server.url, 'GET', '/runs/nope/log-times')).status).toBe(404);
  });
});
