import { mkdtempSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../../shared/src/schemas/run';
import { sseOf } from '../http/sse';
import { LocalLogFeed } from './logFeed';
import { cutPoint, textOf, LogStreamer, type LogState, type StreamEvent } from './logStream';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('cutPoint', () => {
  it('cuts after the last line break', () => {
    expect(cutPoint({ buf: b('a\nb\nc'), n: 5, final: false, chunkBytes: 64 })).toBe(4);
    expect(cutPoint({ buf: b('a\r\nb'), n: 4, final: false, chunkBytes: 64 })).toBe(3);
  });

  it('holds a CR at the end until it knows whether LF follows', () => {
    expect(cutPoint({ buf: b('a\nb\r'), n: 4, final: false, chunkBytes: 64 })).toBe(2);
    expect(cutPoint({ buf: b('b\r'), n: 2, final: false, chunkBytes: 64 })).toBe(0);
    expect(cutPoint({ buf: b('b\r'), n: 2, final: true, chunkBytes: 64 })).toBe(2);
  });

  it('waits for the rest of a short partial line, takes it whole at the end', () => {
    expect(cutPoint({ buf: b('abc'), n: 3, final: false, chunkBytes: 64 })).toBe(0);
    expect(cutPoint({ buf: b('abc'), n: 3, final: true, chunkBytes: 64 })).toBe(3);
  });

  it('splits a line longer than a chunk, never inside a UTF-8 sequence', () => {
    expect(cutPoint({ buf: b('aaaa'), n: 4, final: false, chunkBytes: 4 })).toBe(4);
    const euro = Buffer.from('aa€€€', 'utf8'); // € is 3 bytes: e2 82 ac
    expect(cutPoint({ buf: euro, n: 4, final: false, chunkBytes: 4 })).toBe(2);
    expect(cutPoint({ buf: euro, n: 5, final: false, chunkBytes: 5 })).toBe(5);
    expect(cutPoint({ buf: euro, n: 6, final: false, chunkBytes: 6 })).toBe(5);
    expect(cutPoint({ buf: euro, n: 8, final: false, chunkBytes: 8 })).toBe(8);
  });
});

describe('textOf', () => {
  it('ends lines at \\n, \\r\\n and \\r alike and decodes bad bytes as U+FFFD', () => {
    const buf = b('a\r\nb\rc\n\xff\n\n');
    expect(textOf(buf, buf.length).split('\n')).toEqual(['a', 'b', 'c', '\uFFFD', '']);
  });
});

describe('LogStreamer', () => {
  const run = { run_id: 'r', status: 'succeeded' } as Run;

  async function collect(streamer: LogStreamer, from = 0): Promise<StreamEvent[]> {
    const events: StreamEvent[] = [];
    for await (const e of streamer.events({ runId: 'r', from, signal: new AbortController().signal })) events.push(e);
    return events;
  }

  it('follows a growing file as it is announced, and ends with the run', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'logstream-'));
    const file = path.join(dir, 'r.log');
    writeFileSync(file, '');
    const feed = new LocalLogFeed();
    let state: LogState = { length: 0, ended: null };
    const streamer = new LogStreamer({ feed, state: () => Promise.resolve(state), logPath: () => file, chunkBytes: 8, pollMs: 10_000 });
    const collecting = collect(streamer);
    const write = async (text: string, ended = false) => {
      appendFileSync(file, text);
      state = { length: state.length + Buffer.byteLength(text), ended: ended ? run : null };
      feed.publish('r');
      await new Promise((r) => setTimeout(r, 10));
    };
    await write('one\ntw');
    await write('o\r');
    await write('\nthree-is-long\n');
    await write('tail', true);
    const events = await collecting;
    const lines = events.flatMap((e) => (e.data.type === 'lines' ? e.data.lines : []));
    expect(lines).toEqual(['one', 'two', 'three-is', '-long', 'tail']);
    expect(events.at(-1)).toMatchObject({ id: String(state.length), data: { type: 'end', run } });
    expect(sseOf(events.at(-1) ?? events[0]!).toString()).toBe(`event: end\nid: ${state.length}\ndata: ${JSON.stringify(run)}\n\n`);
    expect(feed.subscribers).toBe(0);

    // Every id resumes exactly after its event.
    for (const [i, e] of events.entries()) {
      const rest = await collect(streamer, Number(e.id));
      const restLines = rest.flatMap((x) => (x.data.type === 'lines' ? x.data.lines : []));
      const before = events.slice(0, i + 1).flatMap((x) => (x.data.type === 'lines' ? x.data.lines : []));
      expect([...before, ...restLines]).toEqual(lines);
    }
  });

  it('serves readers at the same offset from one read: the same data, the same SSE bytes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'logstream-'));
    const file = path.join(dir, 'r.log');
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    writeFileSync(file, text);
    const state: LogState = { length: Buffer.byteLength(text), ended: run };
    const streamer = new LogStreamer({ feed: new LocalLogFeed(), state: () => Promise.resolve(state), logPath: () => file, chunkBytes: 4096 });
    const [a, b] = await Promise.all([collect(streamer), collect(streamer)]);
    expect(a.length).toBe(b.length);
    a.forEach((e, i) => {
      const other = b[i];
      expect(e.id).toBe(other?.id);
      if (e.data.type === 'lines') expect(e.data).toBe(other?.data);
      expect(e.data.type === 'end' || (other !== undefined && sseOf(e) === sseOf(other))).toBe(true);
    });
    expect(a.flatMap((e) => (e.data.type === 'lines' ? e.data.lines : []))).toHaveLength(5000);
  });
});
