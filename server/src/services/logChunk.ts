/**
 * A piece of a run's log cut at line ends, the same object for every reader that reads from the same
 * offset. It keeps no copy of its bytes: they are in the log file (and the page cache), read into the
 * streamer's one scratch buffer whenever a form of the chunk is made. Its forms (the SSE bytes, the
 * tRPC JSON) are written into pooled buffers lent for as long as the chunk is held (lib/bufferPool.ts),
 * so streaming allocates nothing outside V8's heap per chunk.
 *
 * Held by each reader between reading it and asking for the next one, and by its run's cache of recent
 * chunks. Once nobody holds it, its pooled forms go back (a socket still writing one holds it itself)
 * and anything asked of it later (tests, a consumer that keeps events) is made from the file again,
 * into buffers of its own.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Lease } from '../lib/bufferPool';

const LF = 0x0a;
const CR = 0x0d;
export const CRLF_OR_CR = /\r\n?/g;

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

/** Where the lines of `bytes` end: before the line break that ends them (\n, \r\n or \r), if any. */
export function linesEnd(bytes: Uint8Array): number {
  const n = bytes.length;
  const last = bytes[n - 1];
  if (last === LF) return bytes[n - 2] === CR ? n - 2 : n - 1;
  return last === CR ? n - 1 : n;
}

/** Where a held chunk's bytes are read and its buffers lent: its run's open log. */
export interface ChunkSource {
  /** The chunk's bytes: a view valid until the next read into the scratch buffer, to be used at once. */
  bytesOf(chunk: LogChunk): Buffer;
  /** A pooled buffer of at least `size` bytes, or null when none is that large. */
  lend(size: number): Lease | null;
}

/** A transport's form of a chunk (its bytes on that wire), made from the chunk once; the function itself is the key it is kept under. */
export type ChunkForm<T> = (chunk: LogChunk) => T;

interface LinesData {
  readonly type: 'lines';
  readonly lines: string[];
}

export class LogChunk {
  private holders = 1;
  /** While held: the run's open log. Then null, and bytes are read from `path`. */
  private source: ChunkSource | null;
  /** Pooled buffers its forms were written into, given back when nobody holds it. */
  private leases: Lease[] = [];
  /** The transports' forms of this chunk, each made once (again after it is let go: see `release`). */
  private forms: Map<ChunkForm<unknown>, unknown> | undefined;
  private data: LinesData | undefined;
  /** Its bytes, read from the file once it is no longer held. */
  private kept: Buffer | undefined;
  private readonly path: string;

  /** Byte offset of its first byte in the log. */
  readonly start: number;
  /** Byte offset just past it: the id of its event. */
  readonly end: number;
  /** Only ASCII: its bytes are its text. */
  readonly ascii: boolean;
  /** Valid UTF-8: its text is its bytes decoded; else bad bytes become U+FFFD. */
  readonly utf8: boolean;

  /** Held once, by its reader. */
  constructor(chunk: { start: number; end: number; ascii: boolean; utf8: boolean; path: string; source: ChunkSource }) {
    ({ start: this.start, end: this.end, ascii: this.ascii, utf8: this.utf8, path: this.path, source: this.source } = chunk);
  }

  hold(): void {
    this.holders++;
  }

  /** One holder less; when none is left its pooled forms go back, and it is made from the file from then on. */
  release(): void {
    if (this.holders === 0 || --this.holders > 0) return;
    for (const lease of this.leases) lease.release();
    this.leases = [];
    this.forms = undefined;
    this.source = null;
  }

  /** Its bytes, up to and with the line break that ends it (if any): use at once, the next read may overwrite them. */
  bytes(): Buffer {
    if (this.source) return this.source.bytesOf(this);
    return (this.kept ??= readRange(this.path, this.start, this.end));
  }

  /** Its bytes, one character per byte (character i is byte i, the log as it is). */
  latin1(): string {
    return this.bytes().toString('latin1');
  }

  /**
   * Its lines as one string, each ended by \n but the last (every \r\n and \r made \n, the final
   * break dropped): still one character per byte when `utf8` (no byte but a line break is touched),
   * decoded text otherwise (bad bytes as U+FFFD).
   */
  body(): string {
    if (!this.utf8) {
      const bytes = this.bytes();
      return textOf(bytes, bytes.length);
    }
    let text = this.latin1();
    const last = text.charCodeAt(text.length - 1);
    if (text.includes('\r')) text = text.replace(CRLF_OR_CR, '\n');
    return last === LF || last === CR ? text.slice(0, -1) : text;
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

  /**
   * A pooled buffer of at least `size` bytes for one of its forms, lent until nobody holds the chunk
   * (a writer that keeps the form longer holds the lease itself: `leaseOf`). Null once the chunk is
   * let go, or when `size` is more than a pooled buffer holds: the form then gets a Buffer of its own.
   */
  lend(size: number): Lease | null {
    const lease = this.source?.lend(size) ?? null;
    if (lease) this.leases.push(lease);
    return lease;
  }
}

/** `path[start, end)`, read at once: for a chunk asked for after its readers moved on. */
function readRange(path: string, start: number, end: number): Buffer {
  const buf = Buffer.allocUnsafe(end - start);
  const fd = openSync(path, 'r');
  try {
    for (let done = 0; done < buf.length; ) {
      const n = readSync(fd, buf, done, buf.length - done, start + done);
      if (n === 0) throw new Error(`${path}: ended at ${start + done}, before ${end}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}
