import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../../shared/src/schemas/run';
import { leaseOf } from '../lib/bufferPool';
import { LocalLogFeed } from '../services/logFeed';
import { LogStreamer, type LogStreamOptions, type StreamEvent } from '../services/logStream';
import { sseOf } from './sse';

/** The SSE bytes as they were made before they were made from the log's bytes: decoded text, split, joined. */
function decodedSse(event: StreamEvent): Buffer {
  if (event.data.type === 'end') return Buffer.from(`event: end\nid: ${event.id}\ndata: ${JSON.stringify(event.data.run)}\n\n`);
  return Buffer.from(`id: ${event.id}\ndata: ${event.data.lines.join('\ndata: ')}\n\n`, 'utf8');
}

function streamer(log: Buffer, options: Partial<LogStreamOptions>) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sse-')), 'r.log');
  writeFileSync(file, log);
  const state = { length: log.length, ended: { run_id: 'r' } as Run };
  return new LogStreamer({ feed: new LocalLogFeed(), state: () => Promise.resolve(state), logPath: () => file, ...options });
}

/**
 * Streams `log` as the SSE route does: each event's SSE bytes are made while its chunk is held (from
 * the log's bytes, into a pooled buffer) and copied at once, beside the old way's bytes.
 */
async function liveForms(log: Buffer, options: Partial<LogStreamOptions>): Promise<{ event: StreamEvent; made: Buffer; expected: Buffer }[]> {
  const forms = [];
  for await (const event of streamer(log, options).events({ runId: 'r', from: 0, signal: new AbortController().signal })) {
    forms.push({ event, made: Buffer.from(sseOf(event)), expected: decodedSse(event) });
  }
  return forms;
}

const logs = {
  ascii: Buffer.from('one\ntwo\n\nthree'),
  'line ends': Buffer.from('a\r\nb\rc\n\r\n\rd\r'),
  'line ends at word edges': Buffer.from('1234567\r\n12345678\r\n1234567\r\r\n\n\n\r\r12345678901234\r'),
  'not UTF-8': Buffer.from('caf\xc3\xa9 \xff\xfe bad\r\nok\n\x80\n', 'latin1'),
  'UTF-8': Buffer.from('café ünïcödé €\n日本語の行\n😀 emoji\n'),
  'long lines, split': Buffer.from(`${'x'.repeat(50)}\n${'€'.repeat(40)}\n`),
  'control bytes and quotes': Buffer.from('"q" \\ \t\x01\x00\x7f\n'),
  'many short lines': Buffer.from('a\n'.repeat(3000)),
};

describe('sseOf', () => {
  for (const [name, log] of Object.entries(logs)) {
    it(`makes the same bytes from the log's bytes as from its decoded text: ${name}`, async () => {
      // Chunks of every size from a few bytes on; pooled buffers large and small (short lines overflow these: made as strings).
      for (const options of [{ chunkBytes: 7 }, { chunkBytes: 16 }, { chunkBytes: 64 * 1024 }, { chunkBytes: 4096, formBytes: 4200 }]) {
        const forms = await liveForms(log, options);
        for (const { made, expected } of forms) expect(made.toString('latin1')).toBe(expected.toString('latin1'));
        // Asked again once the stream is over (a consumer that kept the events): made from the file again, the same.
        for (const { event, expected } of forms) expect(sseOf(event).equals(expected)).toBe(true);
      }
    });
  }

  it('gives every reader of a chunk the same form, made once', async () => {
    const [a] = await liveForms(logs.ascii, { chunkBytes: 1024 });
    expect(a?.event.chunk).toBeDefined();
    if (a) expect(sseOf(a.event)).toBe(sseOf({ ...a.event }));
  });

  it('keeps a form a socket still writes while later chunks reuse the pool, and reuses it once written', async () => {
    const log = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const held: { lease: NonNullable<ReturnType<typeof leaseOf>>; bytes: Buffer; copy: Buffer }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const event of streamer(log, { chunkBytes: 512, spareForms: 2 }).events({ runId: 'r', from: 0, signal: new AbortController().signal })) {
      const bytes = sseOf(event);
      const lease = leaseOf(bytes);
      if (!lease) continue;
      buffers.add(lease.buffer.buffer);
      // As writeHeld does for a socket that is slow to take it: held, released only later.
      lease.hold();
      held.push({ lease, bytes, copy: Buffer.from(bytes) });
      if (held.length > 20) {
        const done = held.shift();
        expect(done?.bytes.equals(done.copy)).toBe(true);
        done?.lease.release();
      }
    }
    // Twenty held at once, about 4 more in the run's cache: the rest of the ~80 chunks reused them.
    expect(buffers.size).toBeLessThan(30);
    for (const { lease, bytes, copy } of held) {
      expect(bytes.equals(copy)).toBe(true);
      lease.release();
    }
  });
});
