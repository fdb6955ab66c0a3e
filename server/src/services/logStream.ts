/**
 * The one log engine behind every transport (tRPC over WebSocket, tRPC's SSE, the SSE route): turns a
 * run's log file into events of whole lines. An event's id is the byte offset just past it, so a
 * stream resumes exactly from any id, on any transport and any server that can read the file.
 *
 * Every reader reads the file at its own position, into one fixed buffer: a reader that falls behind
 * never grows memory and never slows the tool or the other readers.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { LogEvent } from '../../../shared/src/schemas/logEvent';
import type { Run } from '../../../shared/src/schemas/run';
import type { LogFeed } from './logFeed';

const LF = 0x0a;
const CR = 0x0d;
const LINE_BREAK = /\r\n|\r|\n/;

export interface LogState {
  /** Bytes of the log that may be read. */
  length: number;
  /** The final run once nothing more will be written, else null. */
  ended: Run | null;
}

export interface LogStreamOptions {
  /** Bytes read from the file at once: the most one event carries, and the longest line sent whole. */
  chunkBytes: number;
  /** How often a waiting reader looks again without being told (a safety net, not the mechanism). */
  pollMs: number;
}

const DEFAULTS: LogStreamOptions = { chunkBytes: 256 * 1024, pollMs: 1000 };

/**
 * Where to cut `buf` (the `n` bytes read, at most `chunkBytes`): after the last line break; the whole
 * of it at the end of a finished log; or, for a line longer than a whole chunk, at the chunk's last
 * UTF-8 character boundary. 0 means wait for more.
 */
export function cutPoint(buf: Uint8Array, n: number, final: boolean, chunkBytes: number): number {
  if (n === 0) return 0;
  if (final) return n;
  // A CR at the very end may be the first half of a CRLF: keep it until the next byte is known.
  const end = buf[n - 1] === CR ? n - 1 : n;
  const view = Buffer.from(buf.buffer, buf.byteOffset, end);
  const lastBreak = Math.max(view.lastIndexOf(LF), view.lastIndexOf(CR));
  if (lastBreak >= 0) return lastBreak + 1;
  if (n < chunkBytes) return 0;
  // If the chunk ends inside a UTF-8 sequence (at most 4 bytes), cut before its lead byte.
  let lead = n - 1;
  while (lead > n - 4 && lead > 0 && ((buf[lead] ?? 0) & 0xc0) === 0x80) lead--;
  const byte = buf[lead] ?? 0;
  const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead > 0 && lead + size > n ? lead : n;
}

/** The lines in `buf[0, cut)`: decoded as UTF-8 (bad bytes become U+FFFD), split at \n, \r\n and \r. */
export function linesOf(buf: Uint8Array, cut: number): string[] {
  const text = Buffer.from(buf.buffer, buf.byteOffset, cut).toString('utf8');
  const lines = text.split(LINE_BREAK);
  const last = buf[cut - 1];
  if (last === LF || last === CR) lines.pop();
  return lines;
}

/** Resolves a waiting reader when it is notified, aborted, or after a poll interval. */
class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;

  notify = () => {
    if (this.resolve) {
      this.resolve();
      this.resolve = undefined;
    } else this.pending = true;
  };

  wait(signal: AbortSignal, pollMs: number): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done);
      this.resolve = done;
    });
  }
}

export class LogStreamer {
  private readonly options: LogStreamOptions;

  constructor(
    private readonly feed: LogFeed,
    private readonly state: (runId: string) => Promise<LogState>,
    private readonly logPath: (runId: string) => string,
    options: Partial<LogStreamOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * The run's log as events, from byte offset `from` (0, or an id received earlier), live until the
   * run ends; the last event is `end` with the final run. Stops early when `signal` aborts.
   */
  async *events(runId: string, from: number, signal: AbortSignal): AsyncGenerator<LogEvent> {
    const { chunkBytes, pollMs } = this.options;
    const wakeup = new Wakeup();
    // Subscribe before the first look at the state, so nothing written in between goes unnoticed.
    const unsubscribe = this.feed.subscribe(runId, wakeup.notify);
    const buf = Buffer.allocUnsafe(chunkBytes);
    let file: FileHandle | undefined;
    let pos = from;
    try {
      while (!signal.aborted) {
        const { length, ended } = await this.state(runId);
        if (pos < length) {
          file ??= await open(this.logPath(runId), 'r');
          const want = Math.min(chunkBytes, length - pos);
          const { bytesRead } = await file.read(buf, 0, want, pos);
          const final = ended !== null && pos + bytesRead >= length;
          const cut = cutPoint(buf, bytesRead, final, chunkBytes);
          if (cut > 0) {
            const lines = linesOf(buf, cut);
            pos += cut;
            yield { id: String(pos), data: { type: 'lines', lines } };
            continue;
          }
        } else if (ended) {
          yield { id: String(Math.max(pos, length)), data: { type: 'end', run: ended } };
          return;
        }
        await wakeup.wait(signal, pollMs);
      }
    } finally {
      unsubscribe();
      await file?.close();
    }
  }
}
