/**
 * A running log followed by bytes while it grows fast (web/src/features/runs/logRanges.ts reads the
 * rest: a finished log, and a running log's start): its end first, then a look every LOOK_MS, each
 * numbered by the server's count, until the live stream takes over.
 */
import { ByteLines, firstLineStart, JoinedLines, type LogLines } from './logLines';
import { asked, bytesOf, LogEnd, readEnd, readPieces, RECOUNTS, rangeReader, TAIL_BYTES, type ReadLogOptions } from './logRanges';

/**
 * A running log is followed by bytes while it grows faster than this per second (a flood, which as
 * events would cost the browser and the server many times its bytes), or by at least this between
 * two looks; slower, the live stream takes over.
 */
const CAUGHT_UP_BYTES_PER_S = 2 * 1024 * 1024;
const CAUGHT_UP_BYTES = 64 * 1024;
/** How long a running log that keeps growing fast is followed by bytes at most before the live stream takes over (unless its end is not numbered yet). */
const CATCH_UP_MS = 15_000;
/** The least time between two looks at a running log that grows fast (each shown): what it writes meanwhile is not read then, but with its start. */
const LOOK_MS = 200;
/** Looks in a row that find it growing slowly before the live stream takes over: a tool's output stalls for a moment on a busy machine. */
const SLOW_LOOKS = 2;
/** Bytes a look reads past the server's count at most: what was written while it was counted is the next look's. */
const PAST_COUNT_BYTES = 1024 * 1024;

export interface Written {
  /** The lines written so far: numbered, while `head` is pending those before the end read counted but empty. */
  lines: LogLines;
  /** Where the live stream resumes (a byte offset, as its event ids are). */
  next: number;
  /** Reads the lines before the end read: resolves to `lines` whole. Null when they are all here. */
  head: (() => Promise<LogLines>) | null;
}

/** A running log's last lines read so far: from a line's start on, up to a whole line's end. */
class Segment {
  readonly end: LogEnd;
  /** The bytes from `end.start` on: `buffer`'s first `used`. */
  private buffer = new Uint8Array(0);
  private used = 0;

  constructor(start: number) {
    this.end = new LogEnd(start, new Uint8Array(0));
  }

  /** Where the bytes read end (a line's end): the next read starts there. */
  get next(): number {
    return this.end.start + this.used;
  }

  get bytes(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }

  /** Adds the whole lines of `piece` (which follows the bytes here); the rest is read again with what follows it. */
  append(piece: Uint8Array): void {
    const whole = piece.lastIndexOf(0x0a) + 1;
    if (whole === 0) return;
    if (this.used + whole > this.buffer.length) {
      // Room for this read and as much again: a log that keeps growing is copied a few times, not each read.
      const grown = new Uint8Array(this.used === 0 ? whole : 2 * (this.used + whole));
      grown.set(this.bytes);
      this.buffer = grown;
    }
    this.buffer.set(piece.subarray(0, whole), this.used);
    this.used += whole;
    this.end.lines.grow(this.bytes);
    this.end.lines.index(this.used);
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A running log's lines written so far, read as bytes (they cost the server and the browser far less
 * than the same output replayed as events): its end first, shown at once, then numbered by the server's
 * count. While it grows fast, it is looked at again every LOOK_MS: the server counts it, and what was
 * written from a little before that count on is read and shown, numbered; what was written between two
 * looks is not read then (a flood is not carried through the browser while it lasts). Once it grows
 * slowly the live stream goes on from `next`, and `head` reads what came before the end last read.
 */
export async function readWritten(options: Pick<ReadLogOptions, 'path' | 'token' | 'signal' | 'mark' | 'end'> & { show: (lines: LogLines) => void }): Promise<Written> {
  const get = rangeReader(options);
  let count = asked(options.mark);
  let countedAt = performance.now();
  const first = await (options.end ? options.end(options.signal) : readEnd(get));
  const skip = first.from > 0 ? firstLineStart(first.bytes) : 0;
  let seg = new Segment(first.from + skip);
  seg.append(first.bytes.subarray(skip));
  options.show(seg.end.shown());
  const began = performance.now();
  /** Where the log ended at the last look, and when. */
  let seen = { end: first.from + first.bytes.length, at: began };
  for (let recounts = 0, slow = 0; ; ) {
    await count.done;
    const mark = count.value;
    // Far past what is here: what is between is left for the head, and the read starts a little before the count (its end is then numbered by it).
    const from = mark && mark.offset - TAIL_BYTES > seg.next ? mark.offset - TAIL_BYTES : seg.next;
    // Up to a little past the count: a flood that went on while the server counted is not read whole.
    const to = mark ? Math.max(from, mark.offset) + PAST_COUNT_BYTES : null;
    const piece = await bytesOf(await get(`bytes=${from}-${to === null ? '' : to - 1}`));
    if (from > seg.next) {
      const start = firstLineStart(piece);
      seg = new Segment(from + start);
      seg.append(piece.subarray(start));
    } else seg.append(piece);
    const numbering = mark ? seg.end.number(mark, seg.bytes) : null;
    options.show(seg.end.shown());
    const now = performance.now();
    // What it wrote since the last look (read or not), against the time since; a read that came back
    // full left more behind it.
    const known = Math.max(mark?.offset ?? 0, from + piece.length);
    const grew = known - seen.end;
    const full = to !== null && from + piece.length >= to;
    slow = !full && (grew < CAUGHT_UP_BYTES || grew < (CAUGHT_UP_BYTES_PER_S * (now - seen.at)) / 1000) ? slow + 1 : 0;
    seen = { end: Math.max(seen.end, known), at: now };
    const caughtUp = slow >= SLOW_LOOKS || now - began > CATCH_UP_MS;
    if (caughtUp && numbering !== 'numbered') {
      // Caught up but not numbered: the server is asked to count again (the next look reads from its
      // count); a log the server could not count stays unnumbered until its start is read.
      if (numbering === null || recounts++ >= RECOUNTS) break;
    } else if (caughtUp) break;
    else await pause(Math.max(0, LOOK_MS - (now - countedAt)));
    count = asked(options.mark);
    countedAt = performance.now();
  }
  const end = seg.end;
  const next = seg.next;
  if (end.start === 0) return { lines: end.lines, next, head: null };
  const head = async () => {
    const bytes = new Uint8Array(end.start);
    const headLines = new ByteLines(bytes);
    await readPieces(get, bytes, end.start, (upTo) => headLines.index(upTo));
    headLines.index(end.start);
    return new JoinedLines(headLines, end.lines);
  };
  return { lines: end.shown(), next, head };
}

