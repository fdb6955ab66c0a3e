/**
 * The one log engine behind every transport (tRPC over WebSocket, tRPC's SSE, the SSE route): turns a
 * run's log file into events of whole lines. An event's id is the byte offset just past it, so a
 * stream resumes exactly from any id, on any transport and any server that can read the file.
 *
 * Every reader reads the file at its own position, into one fixed buffer: a reader that falls behind
 * never grows memory and never slows the tool or the other readers.
 *
 * It knows no wire format: a chunk of log (logChunk.ts) offers its bytes, its lines, and a place where
 * each transport keeps its own form of the chunk (http/sse.ts, trpc/logFrames.ts), made once for every
 * reader of that chunk, in buffers lent from one pool: nothing is allocated outside V8's heap per chunk.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate } from 'node:timers';
import type { LogEvent } from '../../../shared/src/schemas/logEvent';
import type { Run } from '../../../shared/src/schemas/run';
import { BufferPool, type Lease } from '../lib/bufferPool';
import type { LogFeed } from './logFeed';
import { LogChunk, type ChunkSource } from './logChunk';
import type { StreamObserver, Transport } from '../metrics';

export { LogChunk, linesEnd, textOf, type ChunkForm } from './logChunk';

const LF = 0x0a;
const CR = 0x0d;

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
  /**
   * Bytes of each pooled buffer a chunk's form is written into (its SSE event, its JSON): room for a
   * chunk of lines of 7 bytes and more on average; a form that needs more gets a Buffer of its own.
   */
  formBytes: number;
  /** Pooled buffers kept while nobody borrows them (the rest go to the garbage collector). */
  spareForms: number;
}

/** Where the streamer reads logs and learns of their growth. */
export interface LogSources {
  feed: LogFeed;
  /** How much of a run's log may be read, and whether it ended. */
  state: (runId: string) => Promise<LogState>;
  logPath: (runId: string) => string;
}

/**
 * 96 KiB: a chunk reaches each WebSocket client as one message, which the client decodes into a
 * string: under V8's 128 KiB bound for young objects such strings are allocated and collected cheaply
 * (very short lines, whose forms grow by up to 7 bytes a line, or bytes that are not UTF-8, can pass
 * it: slower, not wrong). Measured (bench/README.md) when the server still made strings of each chunk:
 * with 256 KiB it grew 59-133 MiB while streaming 1 GiB, with 96 KiB 0-35 MiB, at the same speed.
 * Pooled buffers of twice that hold a chunk's SSE event or JSON when its lines average 7 bytes or more.
 */
const DEFAULTS: LogStreamOptions = { chunkBytes: 96 * 1024, pollMs: 1000, formBytes: 192 * 1024, spareForms: 16 };

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
 * Resolves a waiting reader when it is notified, stopped, or after a poll interval. One listener on
 * the stop signal and one timer (re-armed) for the whole stream, not one of each per wait: a reader
 * that follows a live run waits once per event, and adding a listener to a combined signal
 * (AbortSignal.any) costs several microseconds each time.
 */
class Wakeup {
  /** Set once the stream's signal aborts. */
  stopped = false;
  private pending = false;
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: AbortSignal,
    private readonly pollMs: number,
  ) {
    this.stopped = signal.aborted;
    signal.addEventListener('abort', this.stop);
  }

  notify = () => {
    const resolve = this.resolve;
    this.resolve = undefined;
    if (resolve) resolve();
    else this.pending = true;
  };

  private readonly stop = () => {
    this.stopped = true;
    this.notify();
  };

  wait(): Promise<void> {
    if (this.pending || this.stopped) {
      this.pending = false;
      return Promise.resolve();
    }
    // The timer may go off after a notification instead: one extra look, which finds nothing new.
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.notify, this.pollMs);
    return new Promise((resolve) => (this.resolve = resolve));
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.stop);
  }
}

/** Chunks kept per run for readers that follow one another; older ones are read again from the file. */
const CACHED_CHUNKS = 4;

/** The streamer's one buffer for reads, and the chunk whose bytes it holds now (if any). */
class Scratch {
  holds: LogChunk | null = null;
  constructor(readonly buf: Buffer) {}
}

/**
 * What the readers of one run share: its file, and the chunks read lately, by their start: a fixed
 * ring of CACHED_CHUNKS, overwritten in turn, each held while it is in the ring.
 */
class SharedRun implements ChunkSource {
  readers = 0;
  private fd: number | undefined;
  private readonly starts: number[] = new Array<number>(CACHED_CHUNKS).fill(-1);
  private readonly chunks: (LogChunk | undefined)[] = new Array<LogChunk | undefined>(CACHED_CHUNKS).fill(undefined);
  private next = 0;

  constructor(
    readonly path: string,
    private readonly scratch: Scratch,
    private readonly pool: BufferPool,
  ) {}

  /** Reads up to `length` bytes at `pos` into the scratch buffer: a view of what was read. */
  read(pos: number, length: number): Buffer {
    this.fd ??= openSync(this.path, 'r');
    this.scratch.holds = null;
    const buf = this.scratch.buf;
    let done = 0;
    for (let n = -1; done < length && n !== 0; done += n) n = readSync(this.fd, buf, done, length - done, pos + done);
    return buf.subarray(0, done);
  }

  bytesOf(chunk: LogChunk): Buffer {
    const { scratch } = this;
    const length = chunk.end - chunk.start;
    if (scratch.holds === chunk) return scratch.buf.subarray(0, length);
    const bytes = this.read(chunk.start, length);
    if (bytes.length < length) throw new Error(`${this.path}: ended at ${chunk.start + bytes.length}, before ${chunk.end}`);
    scratch.holds = chunk;
    return bytes;
  }

  lend(size: number): Lease | null {
    return this.pool.lend(size);
  }

  /** The chunk kept for `pos`, held once more for the caller. */
  chunkAt(pos: number): LogChunk | undefined {
    const i = this.starts.indexOf(pos);
    const chunk = i < 0 ? undefined : this.chunks[i];
    chunk?.hold();
    return chunk;
  }

  keep(pos: number, chunk: LogChunk): void {
    chunk.hold();
    this.chunks[this.next]?.release();
    this.starts[this.next] = pos;
    this.chunks[this.next] = chunk;
    this.next = (this.next + 1) % CACHED_CHUNKS;
  }

  /** The last reader left: the chunks kept are let go, the file closed. */
  close(): void {
    for (const chunk of this.chunks) chunk?.release();
    this.chunks.fill(undefined);
    this.starts.fill(-1);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** An event of the stream; a `lines` event comes with its chunk, for transports that keep their form of it. */
export interface StreamEvent extends LogEvent {
  chunk?: LogChunk;
}

/** A `lines` event: its lines are made only for a consumer that asks (the SSE route and tRPC use the chunk's forms). */
class ChunkEvent implements StreamEvent {
  readonly id: string;

  constructor(readonly chunk: LogChunk) {
    this.id = String(chunk.end);
  }

  get data() {
    return this.chunk.linesData();
  }
}

/** A read of the chunk at `pos` of a run's log, `length` bytes of which may be read; `ended`: nothing more will come. */
interface ChunkRead {
  shared: SharedRun;
  pos: number;
  length: number;
  ended: boolean;
}

export class LogStreamer {
  private readonly options: LogStreamOptions;
  private readonly sources: LogSources;
  private readonly runs = new Map<string, SharedRun>();
  /** Reads are synchronous and their bytes are used at once: one buffer serves them all. */
  private readonly scratch: Scratch;
  private readonly pool: BufferPool;
  private readonly observer: StreamObserver | undefined;

  constructor({ feed, state, logPath, ...options }: LogSources & Partial<LogStreamOptions>) {
    this.sources = { feed, state, logPath };
    this.options = { ...DEFAULTS, ...options };
    this.observer = options.observer;
    this.scratch = new Scratch(Buffer.allocUnsafeSlow(this.options.chunkBytes));
    this.pool = new BufferPool(this.options.formBytes, this.options.spareForms);
  }

  /**
   * The chunk of the log that starts at `pos`, held for the caller. Readers at the same offset share
   * one read and one form per transport (many readers following a live run cost about as much as
   * one). Null: no whole line yet.
   */
  private chunkAt(read: ChunkRead): LogChunk | null {
    const { shared, pos } = read;
    const cached = shared.chunkAt(pos);
    if (cached) return cached;
    const chunk = this.readChunk(read);
    // Only whole chunks are kept: a position with no complete line yet is read again later.
    if (chunk) shared.keep(pos, chunk);
    return chunk;
  }

  /**
   * Reads synchronously: the log was just written, so it is in the page cache, where reading a chunk
   * takes microseconds, less than a thread-pool round trip, and keeps readers right behind the writer.
   * The bytes stay in the scratch buffer, where the first form of the chunk is made from them.
   */
  private readChunk({ shared, pos, length, ended }: ChunkRead): LogChunk | null {
    const { chunkBytes } = this.options;
    const buf = shared.read(pos, Math.min(chunkBytes, length - pos));
    const final = ended && pos + buf.length >= length;
    const cut = cutPoint({ buf, n: buf.length, final, chunkBytes });
    if (cut === 0) return null;
    const bytes = buf.subarray(0, cut);
    const ascii = isAscii(bytes);
    const chunk = new LogChunk({ start: pos, end: pos + cut, ascii, utf8: ascii || isUtf8(bytes), path: shared.path, source: shared });
    this.scratch.holds = chunk;
    return chunk;
  }

  private acquire(runId: string): SharedRun {
    let shared = this.runs.get(runId);
    if (!shared) this.runs.set(runId, (shared = new SharedRun(this.sources.logPath(runId), this.scratch, this.pool)));
    shared.readers++;
    return shared;
  }

  private release(runId: string, shared: SharedRun): void {
    if (--shared.readers > 0) return;
    this.runs.delete(runId);
    shared.close();
  }

  /**
   * The run's log as events, from byte offset `from` (0, or an id received earlier), live until the
   * run ends; the last event is `end` with the final run. Stops early when `signal` aborts. A chunk is
   * held until the consumer asks for the next event: make its forms before that.
   */
  async *events({ runId, from, signal, transport = 'sse' }: { runId: string; from: number; signal: AbortSignal; transport?: Transport }): AsyncGenerator<StreamEvent> {
    this.observer?.opened(transport);
    const wakeup = new Wakeup(signal, this.options.pollMs);
    // Subscribe before the first look at the state, so nothing written in between goes unnoticed.
    const unsubscribe = this.sources.feed.subscribe(runId, wakeup.notify);
    const shared = this.acquire(runId);
    let pos = from;
    // Once this stream has seen the run ended, the rest is read without asking again at every chunk.
    let final: LogState | undefined;
    try {
      while (!wakeup.stopped) {
        const state = final ?? (await this.sources.state(runId));
        if (state.ended) final = state;
        const { length, ended } = state;
        if (pos < length) {
          const chunk = this.chunkAt({ shared, pos, length, ended: ended !== null });
          if (chunk) {
            this.observer?.sent(transport, chunk.end - pos);
            pos = chunk.end;
            try {
              yield new ChunkEvent(chunk);
            } finally {
              chunk.release();
            }
            continue;
          }
        } else if (ended) {
          yield { id: String(Math.max(pos, length)), data: { type: 'end', run: ended } };
          return;
        }
        await wakeup.wait();
        // Let the writes already on their way land first: one bigger event instead of many small ones,
        // for the cost of one turn of the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      wakeup.dispose();
      unsubscribe();
      this.release(runId, shared);
      this.observer?.closed(transport);
    }
  }
}
