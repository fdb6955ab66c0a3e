import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../../shared/src/schemas/run';
import { leaseOf } from '../lib/bufferPool';
import { ENVELOPE_ROOM, jsonBytesOf } from '../lib/preEncoded';
import { LocalLogFeed } from '../services/logFeed';
import { LogStreamer, type LogStreamOptions } from '../services/logStream';
import { frameOf } from './logFrames';
import { wsEncoder } from './wsEncoder';

function events(log: Buffer, options: Partial<LogStreamOptions>) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'frames-')), 'r.log');
  writeFileSync(file, log);
  const state = { length: log.length, ended: { run_id: 'r' } as Run };
  const streamer = new LogStreamer({ feed: new LocalLogFeed(), state: () => Promise.resolve(state), logPath: () => file, ...options });
  return streamer.events({ runId: 'r', from: 0, signal: new AbortController().signal });
}

const text = (encoded: string | Uint8Array) => (typeof encoded === 'string' ? encoded : Buffer.from(encoded).toString('utf8'));

const logs = {
  ascii: Buffer.from('one\ntwo\n\nthree'),
  'line ends': Buffer.from('a\r\nb\rc\n\r\n\rd\r'),
  'escapes at word edges': Buffer.from('1234567"\\12345\t\b\f\x00\x01\x1f\x7f 8\r\n"""""""""\\\\\\\\\\\\\\\\\n'),
  'not UTF-8': Buffer.from('caf\xc3\xa9 \xff\xfe bad\r\nok\n\x80\n', 'latin1'),
  'UTF-8': Buffer.from('café ünïcödé €\n日本語の行\n😀 emoji "quoted"\n'),
  'runs of quotes and backslashes': Buffer.from(`${'"'.repeat(40)}\n${'\\'.repeat(40)}\n`),
  'control characters only': Buffer.from(Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('').repeat(40)),
};

describe('frameOf', () => {
  for (const [name, log] of Object.entries(logs)) {
    it(`carries exactly JSON.stringify's bytes of its data: ${name}`, async () => {
      for (const options of [{ chunkBytes: 7 }, { chunkBytes: 16 }, { chunkBytes: 64 * 1024 }, { chunkBytes: 2048, formBytes: 2400 }]) {
        const seen = [];
        for await (const event of events(log, options)) {
          const frame = frameOf(event);
          // As a WebSocket client gets it: made while the chunk is held, copied before the next.
          const json = Buffer.from(jsonBytesOf(frame) ?? '');
          if (event.data.type === 'lines') expect(json.toString('utf8')).toBe(JSON.stringify({ type: 'lines', lines: event.data.lines }));
          seen.push({ frame, expected: JSON.stringify(frame) });
        }
        // Asked again after the stream (made from the file, into a Buffer of its own): the same.
        for (const { frame, expected } of seen) if (jsonBytesOf(frame)) expect(jsonBytesOf(frame)?.toString('utf8')).toBe(expected);
      }
    });
  }

  it("writes a WebSocket message around the chunk's JSON in its pooled buffer, once; other envelopes get their own", async () => {
    const log = Buffer.from(Array.from({ length: 300 }, (_, i) => `line "${i}"`).join('\n') + '\n');
    for await (const event of events(log, { chunkBytes: 1024 })) {
      if (event.data.type !== 'lines') continue;
      const frame = frameOf(event);
      const json = jsonBytesOf(frame);
      expect(leaseOf(json)).toBeDefined();
      const message = (id: number | string) => ({ id, jsonrpc: '2.0', result: { type: 'data', data: { id: event.id, data: frame }, id: event.id } });
      const first = wsEncoder.encode(message(1));
      expect(leaseOf(first)).toBe(leaseOf(json));
      expect(text(first)).toBe(JSON.stringify(message(1)));
      expect(wsEncoder.encode(message(1))).toBe(first);
      const other = wsEncoder.encode(message(2));
      expect(leaseOf(other)).toBeUndefined();
      expect(text(other)).toBe(JSON.stringify(message(2)));
      expect(text(first)).toBe(JSON.stringify(message(1)));
      // An id longer than the room before the JSON: put together elsewhere.
      const long = 'x'.repeat(ENVELOPE_ROOM.before);
      expect(text(wsEncoder.encode(message(long)))).toBe(JSON.stringify(message(long)));
    }
  });
});
