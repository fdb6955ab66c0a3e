/**
 * The one log engine behind every transport (tRPC over WebSocket, tRPC's SSE, the SSE route): turns a
 * run's log file into events of whole lines. An event's id is the byte offset just past it, so a
 * stream resumes exactly from any id, on any transport and any server that can read the file.
 *
 * Every reader reads the file at its own position, into one fixed buffer: a reader that falls behind
 * never grows memory and never slows the tool or the other readers.
 *
 * It knows no wire format: a chunk of log offers its bytes, its lines, and a place where each
 * transport keeps its own form of the chunk (http/sse.ts, trpc/logFrames.ts), made once for every
 * reader of that chunk.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate } from 'node:timers';
import type { LogEvent } from '../../../shared/src/schemas/logEvent';
import type { Run } from '../../../shared/src/schemas/run';
import type { LogFeed } from './logFeed';
import type { StreamObserver, Transport } from '../metrics';

const LF = 0x0a;
const CR = 0x0d;
const CRLF_OR_CR = /\r\n?/g;

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
  /** Told of readers coming and going and of bytes sent (metrics). */
  observer?: StreamObserver;
}

/**
 * 96 KiB: for output of ordinary lines the strings made from a chunk (its bytes, its SSE form, its
 * JSON) stay under V8's 128 KiB bound for young objects, which are allocated and collected cheaply,
 * in the server and in the clients that decode them (very short lines, whose SSE form grows by 7
 * bytes a line, or bytes that are not UTF-8, can pass it: slower, not wrong). Measured
 * (bench/README.md): with 256 KiB the server grew 59-133 MiB while streaming 1 GiB, with 96 KiB
 * 0-35 MiB, at the same speed.
 */
const DEFAULTS: LogStreamOptions = { chunkBytes: 96 * 1024, pollMs: 1000 };

/**
 * Where to cut `buf` (the `n` bytes read, at most `chunkBytes`): after the last line break; the whole
 * of it at the end of a finished log; or, for a line longer than a whole chunk, at the chunk's last
 * UTF-8 character boundary. 0 means wait for more.
 */
export function cutPoint({ buf, n, final, chunkBytes }: { buf: Uint8Array; n: number; final: boolean; chunkBytes: number }): number {
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

/**
 * The text of `buf[0, cut)`: decoded as UTF-8 (bad bytes become U+FFFD), every \r\n and \r turned
 * into \n, without the line break that ends it.
 */
export function textOf(buf: Uint8Array, cut: number): string {
  const view = Buffer.from(buf.buffer, buf.byteOffset, cut);
  let text = view.toString('utf8');
  if (view.indexOf(CR) >= 0) text = text.replace(CRLF_OR_CR, '\n');
  const last = buf[cut - 1];
  return last === LF || last === CR ? text.slice(0, -1) : text;
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

/** A transport's form of a chunk (its bytes on that wire), made from the chunk once; the function itself is the key it is kept under. */
export type ChunkForm<T> = (chunk: LogChunk) => T;

/**
 * A piece of a log cut at line ends: the same object for every reader that reads from the same
 * offset. It keeps its bytes as a Buffer, outside V8's heap. Tried: keeping them as a one-byte
 * string (no memory outside the heap, so fewer full collections), but young-generation collections
 * then carried most chunks' strings over (14-25 MB each, freed only by a full collection), the young
 * generation grew to its 64 MB bound and the server's resident memory after the bench's cases was
 * 80 MiB higher (bench/README.md).
 */
export class LogChunk {
  /** The transports' forms of this chunk, each made once. */
  private forms: Map<ChunkForm<unknown>, unknown> | undefined;
  private data: LinesData | undefined;

  /** Byte offset just past it: the id of its event. */
  readonly end: number;
  /** Its bytes, up to and with the line break that ends it (if any). */
  readonly raw: Buffer;
  /** Only ASCII: its bytes are its text. */
  readonly ascii: boolean;
  /** Valid UTF-8: its text is its bytes decoded; else bad bytes become U+FFFD. */
  readonly utf8: boolean;

  constructor(chunk: { end: number; raw: Buffer; ascii: boolean; utf8: boolean }) {
    ({ end: this.end, raw: this.raw, ascii: this.ascii, utf8: this.utf8 } = chunk);
  }

  /** Its bytes, one character per byte (character i is byte i, the log as it is). */
  bytes(): string {
    return this.raw.toString('latin1');
  }

  /**
   * Its lines as one string, each ended by \n but the last (every \r\n and \r made \n, the final
   * break dropped): still one character per byte when `utf8` (no byte but a line break is touched),
   * decoded text otherwise (bad bytes as U+FFFD).
   */
  body(): string {
    const bytes = this.bytes();
    let text = this.utf8 ? bytes : textOf(this.raw, this.raw.length);
    if (this.utf8) {
      if (bytes.includes('\r')) text = text.replace(CRLF_OR_CR, '\n');
      const last = bytes.charCodeAt(bytes.length - 1);
      if (last === LF || last === CR) text = text.slice(0, -1);
    }
    return text;
  }

  /** Its text, decoded: what its lines say. */
  text(): string {
    const body = this.body();
    return this.ascii || !this.utf8 ? body : Buffer.from(body, 'latin1').toString('utf8');
  }

  /** The event's data, one frozen object for every reader; its lines are decoded at each access. */
  linesData(): LinesData {
    const text = () => this.text();
    return (this.data ??= Object.freeze({
      type: 'lines' as const,
      get lines() {
        return text().split('\n');
      },
    }));
  }

  /** The chunk in a transport's form: made by `form` the first time any reader asks, the same value after. */
  formOf<T>(form: ChunkForm<T>): T {
    this.forms ??= new Map();
    if (this.forms.has(form)) return this.forms.get(form) as T;
    const made = form(this);
    this.forms.set(form, made);
    return made;
  }
}

interface LinesData {
  readonly type: 'lines';
  readonly lines: string[];
}

/** Chunks kept per run for readers that follow one another; older ones are read again from the file. */
const CACHED_CHUNKS = 4;

/**
 * What the readers of one run share: its file, and the chunks read lately, by their start: a fixed
 * ring of CACHED_CHUNKS, overwritten in turn.
 */
class SharedRun {
  readers = 0;
  fd: number | undefined;
  private readonly starts: number[] = new Array<number>(CACHED_CHUNKS).fill(-1);
  private readonly chunks: (LogChunk | undefined)[] = new Array<LogChunk | undefined>(CACHED_CHUNKS).fill(undefined);
  private next = 0;

  chunkAt(pos: number): LogChunk | undefined {
    const i = this.starts.indexOf(pos);
    return i < 0 ? undefined : this.chunks[i];
  }

  keep(pos: number, chunk: LogChunk): void {
    this.starts[this.next] = pos;
    this.chunks[this.next] = chunk;
    this.next = (this.next + 1) % CACHED_CHUNKS;
  }
}


/** An event of the stream; a `lines` event comes with its chunk, for transports that keep their form of it. */
export interface StreamEvent extends LogEvent {
  chunk?: LogChunk;
}

/** Where the streamer finds a run's log: announcements of writes, how much may be read, the file. */
export interface LogSource {
  feed: LogFeed;
  state: (runId: string) => Promise<LogState>;
  logPath: (runId: string) => string;
}

/** A read of the chunk at `pos` of a run's log, `length` bytes of which may be read; `ended`: nothing more will come. */
interface ChunkRead {
  shared: SharedRun;
  runId: string;
  pos: number;
  length: number;
  ended: boolean;
}

export class LogStreamer {
  private readonly options: LogStreamOptions;
  private readonly feed: LogFeed;
  private readonly state: (runId: string) => Promise<LogState>;
  private readonly logPath: (runId: string) => string;
  private readonly runs = new Map<string, SharedRun>();
  /** Reads are synchronous and their bytes are copied out at once: one buffer serves them all. */
  private readonly scratch: Buffer;

  private readonly observer: StreamObserver | undefined;

  constructor({ feed, state, logPath }: LogSource, options: Partial<LogStreamOptions> = {}) {
    this.feed = feed;
    this.state = state;
    this.logPath = logPath;
    this.options = { ...DEFAULTS, ...options };
    this.observer = options.observer;
    this.scratch = Buffer.allocUnsafe(this.options.chunkBytes);
  }

  /**
   * The chunk of the log that starts at `pos`. Readers at the same offset share one read and one
   * decoding (many readers following a live run cost about as much as one). Null: no whole line yet.
   */
  private chunkAt(read: ChunkRead): LogChunk | null {
    const { shared, pos } = read;
    const cached = shared.chunkAt(pos);
    if (cached) return cached;
    const chunk = this.readChunk(read);
    // Only whole chunks are kept: a position with no complete line yet is read again later.
    if (chunk) {
      shared.keep(pos, chunk);
    }
    return chunk;
  }

  /**
   * Reads synchronously: the log was just written, so it is in the page cache, where reading a chunk
   * takes microseconds, less than a thread-pool round trip, and keeps readers right behind the writer.
   */
  private readChunk({ shared, runId, pos, length, ended }: ChunkRead): LogChunk | null {
    const { chunkBytes } = this.options;
    shared.fd ??= openSync(this.logPath(runId), 'r');
    const buf = this.scratch;
    const bytesRead = readSync(shared.fd, buf, 0, Math.min(chunkBytes, length - pos), pos);
    const final = ended && pos + bytesRead >= length;
    const cut = cutPoint({ buf, n: bytesRead, final, chunkBytes });
    if (cut === 0) return null;
    const raw = Buffer.from(buf.subarray(0, cut));
    const ascii = isAscii(raw);
    return new LogChunk({ end: pos + cut, raw, ascii, utf8: ascii || isUtf8(raw) });
  }

  private acquire(runId: string): SharedRun {
    let shared = this.runs.get(runId);
    if (!shared) this.runs.set(runId, (shared = new SharedRun()));
    shared.readers++;
    return shared;
  }

  private release(runId: string, shared: SharedRun): void {
    if (--shared.readers > 0) return;
    this.runs.delete(runId);
    if (shared.fd !== undefined) closeSync(shared.fd);
  }

  /**
   * The run's log as events, from byte offset `from` (0, or an id received earlier), live until the
   * run ends; the last event is `end` with the final run. Stops early when `signal` aborts.
   */
  // eslint-disable-next-line max-params -- called from routers/runs.ts, changed elsewhere meanwhile (issue 18: an options object after the fleet work merges)
  async *events(runId: string, from: number, signal: AbortSignal, transport: Transport = 'sse'): AsyncGenerator<StreamEvent> {
    const { pollMs } = this.options;
    this.observer?.opened(transport);
    const wakeup = new Wakeup();
    // Subscribe before the first look at the state, so nothing written in between goes unnoticed.
    const unsubscribe = this.feed.subscribe(runId, wakeup.notify);
    const shared = this.acquire(runId);
    let pos = from;
    // Once this stream has seen the run ended, the rest is read without asking again at every chunk.
    let final: LogState | undefined;
    try {
      while (!signal.aborted) {
        const state = final ?? (await this.state(runId));
        if (state.ended) final = state;
        const { length, ended } = state;
        if (pos < length) {
          const chunk = this.chunkAt({ shared, runId, pos, length, ended: ended !== null });
          if (chunk) {
            this.observer?.sent(transport, chunk.end - pos);
            pos = chunk.end;
            yield { id: String(chunk.end), data: chunk.linesData(), chunk };
            continue;
          }
        } else if (ended) {
          yield { id: String(Math.max(pos, length)), data: { type: 'end', run: ended } };
          return;
        }
        await wakeup.wait(signal, pollMs);
        // Let the writes already on their way land first: one bigger event instead of many small ones,
        // for the cost of one turn of the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      unsubscribe();
      this.release(runId, shared);
      this.observer?.closed(transport);
    }
  }
}
