/**
 * A log's lines as the view reads them, whichever way they came: strings from the live stream, or
 * the raw bytes of a finished log read by byte ranges with an index of where each line starts (a
 * million lines cost the bytes plus 4 bytes a line, and a line becomes a string only when it is
 * shown or searched).
 *
 * Both split lines as the server's stream does: every \n, \r\n or lone \r ends a line, and a line
 * break at the very end opens no empty last line.
 */
import { scanBreaks } from '../../../../shared/src/lineBreaks';

export interface LogLines {
  /** Lines known so far. */
  readonly count: number;
  /** Whether line numbers are known: false while only the end of a finished log has arrived. */
  readonly numbered: boolean;
  /** The text of line `i` (0-based). */
  text(i: number): string;
  /** The texts of lines [from, to), in one go (search reads a log block by block). */
  slice(from: number, to: number): string[];
  /**
   * A byte offset in the log at or before line `i`'s first byte, no earlier than the output it came
   * with (what its arrival time is looked up by); null when unknown.
   */
  offsetOf(i: number): number | null;
}

/** The index of the last of `sorted`'s first `n` values at or below `value` (-1: none). */
export function lastAtOrBelow(sorted: ArrayLike<number>, n: number, value: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? 0) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Lines held as strings: the live stream's. Where
 * each batch of lines began in the log is kept (the stream's events say it), not each line's: a batch
 * came at once, so its lines share an arrival time.
 */
export class StringLines implements LogLines {
  private readonly lines: string[] = [];
  /** The first line of each batch that came with an offset, and that offset. */
  private readonly batchLines: number[] = [];
  private readonly batchOffsets: number[] = [];
  readonly numbered = true;

  get count(): number {
    return this.lines.length;
  }

  /** Adds lines; `offset`: where in the log they begin. */
  push(lines: readonly string[], offset?: number): void {
    if (offset !== undefined && lines.length > 0) {
      this.batchLines.push(this.lines.length);
      this.batchOffsets.push(offset);
    }
    for (const line of lines) this.lines.push(line);
  }

  offsetOf(i: number): number | null {
    const batch = lastAtOrBelow(this.batchLines, this.batchLines.length, i);
    return batch < 0 ? null : (this.batchOffsets[batch] ?? null);
  }

  text(i: number): string {
    return this.lines[i] ?? '';
  }

  slice(from: number, to: number): string[] {
    return this.lines.slice(from, to);
  }
}

const LF = 0x0a;
const CR = 0x0d;
const BREAKS = /\r\n|\r|\n/;
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** A log's bytes, whole or arriving front to back (from byte `base` of the log on), and where each of its lines starts. */
export class ByteLines implements LogLines {
  readonly numbered = true;
  /** Bytes indexed so far (from 0). */
  private indexed = 0;
  /** Line starts; `starts[count]` is where the next line would start. */
  private starts = new Uint32Array(1024);
  private lineCount = 0;

  constructor(
    private bytes: Uint8Array,
    private readonly base = 0,
  ) {}

  get count(): number {
    return this.lineCount;
  }

  /** The log has more bytes: `bytes` holds the same ones as before at its start, then the new ones (index them next). */
  grow(bytes: Uint8Array): void {
    this.bytes = bytes;
  }

  /** Indexes bytes [indexed, upTo): call as they arrive; `upTo` at the log's end counts its last line even without a break. */
  index(upTo: number): void {
    const b = this.bytes;
    const end = Math.min(upTo, b.length);
    const atEnd = end === b.length;
    let at = Math.max(this.indexed, scanBreaks(b.subarray(0, end), this.indexed, this.onBreak));
    if (atEnd && at === end - 1) {
      // A CR as the log's last byte ends its last line by itself.
      this.addStart(end);
      at = end;
    } else if (atEnd && at === end) {
      // The last line, when the log does not end with a break.
      const last = this.starts[this.lineCount] ?? 0;
      if (last < end) this.addStart(end);
    }
    this.indexed = at;
  }

  private readonly onBreak = (next: number): void => this.addStart(next);

  private addStart(next: number): void {
    if (this.lineCount + 2 > this.starts.length) {
      const grown = new Uint32Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[++this.lineCount] = next;
  }

  /** Bytes of line `i` without its break. */
  private range(i: number): [number, number] {
    const start = this.starts[i] ?? 0;
    let end = this.starts[i + 1] ?? start;
    if (end > start && this.bytes[end - 1] === LF) end--;
    if (end > start && this.bytes[end - 1] === CR) end--;
    return [start, end];
  }

  text(i: number): string {
    if (i < 0 || i >= this.lineCount) return '';
    const [start, end] = this.range(i);
    return decoder.decode(this.bytes.subarray(start, end));
  }

  offsetOf(i: number): number | null {
    return i >= 0 && i < this.lineCount ? this.base + (this.starts[i] ?? 0) : null;
  }

  slice(from: number, to: number): string[] {
    const a = Math.max(0, from);
    const b = Math.min(to, this.lineCount);
    if (b <= a) return [];
    // One decoding for the block, split at its breaks: the block ends with line b-1's break, if it has one.
    const [, lastEnd] = this.range(b - 1);
    const text = decoder.decode(this.bytes.subarray(this.starts[a] ?? 0, lastEnd));
    return text.split(BREAKS);
  }
}

/** Where the first line that begins in `bytes` starts, when they may begin in the middle of a line (past a CRLF whole). */
export function firstLineStart(bytes: Uint8Array): number {
  let at = 0;
  while (at < bytes.length && bytes[at] !== LF && bytes[at] !== CR) at++;
  const start = Math.min(bytes.length, at + 1);
  return bytes[at] === CR && bytes[start] === LF ? start + 1 : start;
}

/**
 * Lines that are counted but not here yet: those before a running log's end, numbered from the
 * server's count while they load. Empty until then.
 */
export class CountedLines implements LogLines {
  readonly numbered = true;
  constructor(readonly count: number) {}

  text(): string {
    return '';
  }

  slice(from: number, to: number): string[] {
    return new Array<string>(Math.max(0, Math.min(to, this.count) - Math.max(0, from))).fill('');
  }

  offsetOf(): null {
    return null;
  }
}

/** Lines whose numbers are not known yet: a log's end read before the server's count of the lines before it. */
export class UnnumberedLines implements LogLines {
  readonly numbered = false;
  constructor(private readonly lines: LogLines) {}

  get count(): number {
    return this.lines.count;
  }

  text(i: number): string {
    return this.lines.text(i);
  }

  slice(from: number, to: number): string[] {
    return this.lines.slice(from, to);
  }

  offsetOf(i: number): number | null {
    return this.lines.offsetOf(i);
  }
}

/** Two runs of a log's lines, one after the other: the lines already written (or counted) and those after them. */
export class JoinedLines implements LogLines {
  constructor(
    private readonly head: LogLines,
    private readonly rest: LogLines,
  ) {}

  get numbered(): boolean {
    return this.head.numbered && this.rest.numbered;
  }

  get count(): number {
    return this.head.count + this.rest.count;
  }

  text(i: number): string {
    return i < this.head.count ? this.head.text(i) : this.rest.text(i - this.head.count);
  }

  offsetOf(i: number): number | null {
    return i < this.head.count ? this.head.offsetOf(i) : this.rest.offsetOf(i - this.head.count);
  }

  slice(from: number, to: number): string[] {
    const split = this.head.count;
    if (to <= split) return this.head.slice(from, to);
    if (from >= split) return this.rest.slice(from - split, to - split);
    return [...this.head.slice(from, split), ...this.rest.slice(0, to - split)];
  }
}
