/**
 * A log stream's events as the tRPC subscription hands them out. A chunk's data carries its JSON,
 * made once for every WebSocket client of that chunk (wsEncoder.ts writes it into each client's
 * message), and one data object serves every reader of the chunk.
 */
import type { Bytes } from '../lib/bufferPool';
import { ENVELOPE_ROOM, withJsonBytes } from '../lib/preEncoded';
import { belowMark, equalMark, HIGH_BITS, repeated } from '../lib/wordScan';
import { linesEnd, type LogChunk, type StreamEvent } from '../services/logStream';

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CONTROL_WORD = repeated(0x20);
const QUOTE_WORD = repeated(QUOTE);
const BACKSLASH_WORD = repeated(BACKSLASH);
/** Bytes written at most for one byte of log (a control character becomes `\u00XX`). */
const MOST_PER_BYTE = 6;
/** JSON.stringify's short escapes, by byte; other control characters are written `\u00XX`. */
const SHORT_ESCAPES: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0c: 0x66 }; // \b \t \f
const HEX = Buffer.from('0123456789abcdef');
const HEAD = '{"type":"lines","lines":["';
const TAIL = '"]}';

/** Copies `src[from, to)` byte by byte into `out` at `o` as the inside of JSON strings, `","` for each line break; answers where it ends. */
// eslint-disable-next-line max-params -- a byte copy in the stream's hot path, shaped like Buffer.copy (source, range, target, position): no object per call
function copyJsonBytes(src: Uint8Array, from: number, to: number, out: Uint8Array, o: number): number {
  for (let k = from; k < to; k++) {
    const c = src[k] ?? 0;
    if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) out[o++] = c;
    else if (c === LF || (c === CR && src[k + 1] !== LF)) {
      out[o] = QUOTE;
      out[o + 1] = 0x2c; // ,
      out[o + 2] = QUOTE;
      o += 3;
    } else if (c === CR) continue;
    else if (c === QUOTE || c === BACKSLASH || SHORT_ESCAPES[c] !== undefined) {
      out[o] = BACKSLASH;
      out[o + 1] = SHORT_ESCAPES[c] ?? c;
      o += 2;
    } else {
      out.set([BACKSLASH, 0x75, 0x30, 0x30, HEX[c >> 4] ?? 0, HEX[c & 15] ?? 0], o); // \u00XX
      o += 6;
    }
  }
  return o;
}

/**
 * Writes the lines of `src[0, n)` into `out` from `o` as the inside of a JSON array of strings (what
 * JSON.stringify writes between `["` and `"]`), and answers where they end; -1 if that would pass
 * `limit`. Valid UTF-8 only: its bytes from 0x80 up are copied as they are, as JSON.stringify leaves
 * those characters. Eight bytes at a time while they need no escape nor hold a line break, byte by
 * byte where they do: 0.5-0.8 of the CPU time of splitting the text into lines for JSON.stringify
 * (measured on lines of 20 and 80 bytes), and nothing on V8's heap.
 */
// eslint-disable-next-line max-params -- a byte copy in the stream's hot path, shaped like Buffer.copy (source, range, target, position): no object per call
export function writeJsonLines(src: Buffer, n: number, out: Buffer, o: number, limit: number): number {
  const words = new DataView(src.buffer, src.byteOffset, src.length);
  const into = new DataView(out.buffer, out.byteOffset, out.length);
  const special = (w: number) => belowMark(w, CONTROL_WORD) | equalMark(w, QUOTE_WORD) | equalMark(w, BACKSLASH_WORD);
  // One loop to the end, the last few bytes in it too (as http/sse.ts writeDataLines, for V8's sake).
  for (let i = 0; i < n; i += 8) {
    if (o + 8 * MOST_PER_BYTE > limit) return -1;
    if (i + 8 > n) return copyJsonBytes(src, i, n, out, o);
    const a = words.getUint32(i, true);
    const b = words.getUint32(i + 4, true);
    if ((special(a) | special(b)) & HIGH_BITS) o = copyJsonBytes(src, i, i + 8, out, o);
    else {
      into.setUint32(o, a, true);
      into.setUint32(o + 4, b, true);
      o += 8;
    }
  }
  return o;
}

/**
 * The data of a chunk's event as JSON, `{"type":"lines","lines":[...]}`: exactly what JSON.stringify
 * of the data gives (logFrames.test.ts, wsEncoder.test.ts). Valid UTF-8 is written from the log's
 * bytes into a buffer lent to the chunk, with room around it for the message; other bytes, and a
 * chunk no longer held, go through JSON.stringify of the decoded lines into a Buffer of their own.
 */
export function jsonOfChunk(chunk: LogChunk): Bytes {
  if (chunk.utf8) {
    const bytes = chunk.bytes();
    const n = linesEnd(bytes);
    const { before, after } = ENVELOPE_ROOM;
    const lease = chunk.lend(before + HEAD.length + n + TAIL.length + after);
    if (lease) {
      const out = lease.buffer;
      const start = before + out.write(HEAD, before, 'latin1');
      const end = writeJsonLines(bytes, n, out, start, out.length - after - TAIL.length);
      if (end >= 0) return lease.view(before, end + out.write(TAIL, end, 'latin1'));
      lease.release(); // too many escapes or short lines for a pooled buffer: made as a string below
    }
  }
  return Buffer.from(JSON.stringify({ type: 'lines', lines: chunk.text().split('\n') }));
}

/** A chunk's data with its JSON. Lazy: tRPC's own SSE transport serialises the data itself and never asks for the JSON. */
function linesFrame(chunk: LogChunk) {
  const data = {
    type: 'lines' as const,
    get lines() {
      return chunk.text().split('\n');
    },
  };
  return Object.freeze(withJsonBytes(data, () => chunk.formOf(jsonOfChunk)));
}

/** The data to yield for `event`: for a chunk of log, its frame, the same object for every reader of the chunk. */
export function frameOf(event: StreamEvent): StreamEvent['data'] {
  return event.chunk ? event.chunk.formOf(linesFrame) : event.data;
}
