import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../../shared/src/schemas/run';
import { LocalLogFeed } from '../services/logFeed';
import { LogStreamer, type StreamEvent } from '../services/logStream';
import { sseOf } from './sse';

/** The SSE bytes as they were made before they were made from the log's bytes: decoded text, split, joined. */
function decodedSse(event: StreamEvent): Buffer {
  if (event.data.type === 'end') return Buffer.from(`event: end\nid: ${event.id}\ndata: ${JSON.stringify(event.data.run)}\n\n`);
  return Buffer.from(`id: ${event.id}\ndata: ${event.data.lines.join('\ndata: ')}\n\n`, 'utf8');
}

async function eventsOf(log: Buffer, chunkBytes: number): Promise<StreamEvent[]> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sse-')), 'r.log');
  writeFileSync(file, log);
  const state = { length: log.length, ended: { run_id: 'r' } as Run };
  const streamer = new LogStreamer({ feed: new LocalLogFeed(), state: () => Promise.resolve(state), logPath: () => file }, { chunkBytes });
  const events: StreamEvent[] = [];
  for await (const e of streamer.events('r', 0, new AbortController().signal)) events.push(e);
  return events;
}

describe('sseOf', () => {
  const logs = {
    ascii: Buffer.from('one\ntwo\n\nthree'),
    'line ends': Buffer.from('a\r\nb\rc\n\r\n\rd\r'),
    'not UTF-8': Buffer.from('caf\xc3\xa9 \xff\xfe bad\r\nok\n\x80\n', 'latin1'),
    'UTF-8': Buffer.from('café ünïcödé €\n日本語の行\n😀 emoji\n'),
    'long lines, split': Buffer.from(`${'x'.repeat(50)}\n${'€'.repeat(40)}\n`),
    'control bytes and quotes': Buffer.from('"q" \\ \t\x01\x00\x7f\n'),
  };

  for (const [name, log] of Object.entries(logs)) {
    it(`makes the same bytes from the log's bytes as from its decoded text: ${name}`, async () => {
      for (const chunkBytes of [7, 16, 64 * 1024]) {
        for (const event of await eventsOf(log, chunkBytes)) {
          expect(sseOf(event).equals(decodedSse(event))).toBe(true);
        }
      }
    });
  }

  it('gives every reader of a chunk the same form, made once', async () => {
    const [a] = await eventsOf(logs.ascii, 1024);
    expect(a?.chunk).toBeDefined();
    if (a) expect(sseOf(a)).toBe(sseOf({ ...a }));
  });
});
