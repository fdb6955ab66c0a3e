/**
 * A finished run's log read by byte ranges from the raw log (GET /runs/{run_id}/log, with a
 * short-lived run-bound token as ?access_token=): its last bytes first, shown at once, then the
 * whole of it in pieces, indexed as they arrive, for line numbers, links and search. Nothing is
 * replayed through the live stream, and the bytes are kept as bytes.
 */
import type { LogLineMark } from '../../../../shared/src/schemas/logEvent';
import { ByteLines, CountedLines, firstLineStart, JoinedLines, tailLines, type LogLines } from './logLines';

/** The end of the log fetched first: a few screens, whatever the log's size. */
export const TAIL_BYTES = 256 * 1024;
/** The rest comes in pieces of this size, two at a time. */
const PIECE_BYTES = 8 * 1024 * 1024;

export interface LogProgress {
  /** Bytes of the log read so far, and its size. */
  loaded: number;
  total: number;
}

export interface ReadLogOptions {
  /** The raw log's path, without the token. */
  path: string;
  /** A fresh token for the run (asked again when one has expired). */
  token: () => Promise<string>;
  signal: AbortSignal;
  /** Where the log's last whole line ends and how many lines come before it (GET /runs/{run_id}/log-lines). */
  mark: () => Promise<LineMark>;
  /** The lines to show: the log's end (numbered when the mark allows) while the rest loads, then all of it. */
  show: (lines: LogLines, progress: LogProgress | null) => void;
}

export type LineMark = Pick<LogLineMark, 'offset' | 'lines'>;

/**
 * How many lines of the log come before `kept` (its bytes from offset `start`, a line's start on),
 * from a mark within them; null when the mark is not (a log not counted where it is kept).
 */
function linesBefore(kept: Uint8Array, start: number, mark: LineMark): number | null {
  if (mark.offset < start || mark.offset - start > kept.length) return null;
  const upToMark = new ByteLines(kept.subarray(0, mark.offset - start));
  upToMark.index(mark.offset - start);
  return Math.max(0, mark.lines - upToMark.count);
}

/** The server's reason for a refusal, from its JSON error body. */
async function reasonOf(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { message?: unknown };
    if (typeof body.message === 'string') return `${res.status}: ${body.message}`;
  } catch {
    // Not JSON: the status says it.
  }
  return `${res.status} ${res.statusText}`;
}

type RangeReader = (range: string | null) => Promise<Response | null>;

/**
 * Reads ranges of the raw log (null: all of it); a token that expired between them is replaced once.
 * A range past the end is null (a running log that has not grown). The token is asked for at once.
 */
function rangeReader({ path, token, signal }: Pick<ReadLogOptions, 'path' | 'token' | 'signal'>): RangeReader {
  let current = token();
  current.catch(() => undefined); // awaited by the first read; an abort before it must not surface as unhandled
  return async (range) => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${path}?access_token=${encodeURIComponent(await current)}`, { headers: range ? { Range: range } : {}, signal, cache: 'no-store' });
      if (res.status === 401 && attempt === 0) {
        current = token();
        continue;
      }
      if (res.status === 416 && range) return null;
      if (res.status !== 200 && res.status !== 206) throw new Error(`could not read the log (${await reasonOf(res)})`);
      return res;
    }
  };
}

/** A read of a running log that brings less than this is caught up: the live stream takes over. */
const CAUGHT_UP_BYTES = 1024 * 1024;
/** Reads of a running log at most before the live stream takes over, however fast it grows. */
const CATCH_UP_READS = 4;

const bytesOf = async (res: Response | null) => (res ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(0));

/**
 * Reads the log's bytes [0, `end`) into `bytes` in pieces, two at a time; `onPiece(upTo)` after each,
 * bytes [0, upTo) being here then.
 */
async function readPieces(get: RangeReader, bytes: Uint8Array, end: number, onPiece: (upTo: number) => void): Promise<void> {
  const piece = (at: number) => {
    const p = get(`bytes=${at}-${Math.min(end, at + PIECE_BYTES) - 1}`).then(bytesOf);
    p.catch(() => undefined); // awaited below; an abort meanwhile must not surface as unhandled
    return p;
  };
  let next = piece(0);
  for (let at = 0; at < end; at += PIECE_BYTES) {
    const got = await next;
    if (at + PIECE_BYTES < end) next = piece(at + PIECE_BYTES);
    const want = Math.min(end, at + PIECE_BYTES) - at;
    if (got.length !== want) throw new Error(`could not read the log: ${got.length} bytes came for a range of ${want}`);
    bytes.set(got, at);
    onPiece(at + want);
  }
}

export interface Written {
  /** The lines written so far, numbered; while `head` is pending, those before the end read are counted but empty. */
  lines: LogLines;
  /** Where the live stream resumes (a byte offset, as its event ids are). */
  next: number;
  /** Reads the lines before the end read: resolves to `lines` whole. Null when they are all here. */
  head: (() => Promise<LogLines>) | null;
}

/**
 * A running log's lines written so far, up to the end of its last whole line, read as bytes (they
 * cost the server and the browser far less than the same output replayed as events): from a little
 * before the end of its last whole line (`mark`, counted by the server, numbers them), and again from
 * where the last read's whole lines ended while the log grows fast, each read's lines shown. What came
 * before the first read is read afterwards, by `head`, while the live stream goes on from `next`.
 */
export async function readWritten(
  options: Pick<ReadLogOptions, 'path' | 'token' | 'signal' | 'mark'> & { show: (lines: LogLines) => void },
): Promise<Written> {
  const get = rangeReader(options);
  const mark = await options.mark();
  const from = Math.max(0, mark.offset - TAIL_BYTES);
  let piece = await bytesOf(await get(from === 0 ? null : `bytes=${from}-`));
  // A log shorter than its mark (a server that rewrote it meanwhile): read from its start, counting there.
  if (piece.length < mark.offset - from) return readWritten({ ...options, mark: () => Promise.resolve({ offset: 0, lines: 0 }) });
  // The bytes kept begin with the first line that begins in them; the mark, a line's end, numbers them.
  const skip = from > 0 ? firstLineStart(piece) : 0;
  piece = piece.subarray(skip);
  const start = from + skip;
  /** Lines before `start`: counted by the server, read by `head`. */
  const before = start > 0 ? (linesBefore(piece, start, mark) ?? 0) : 0;

  /** Bytes of the log from `start` on, up to a line's end: `buffer`'s first `used`. */
  let buffer = new Uint8Array(0);
  let used = 0;
  const lines = new ByteLines(buffer, start);
  const numbered = start > 0 ? new JoinedLines(new CountedLines(before), lines) : lines;
  for (let read = 0; ; ) {
    // Up to the end of its last whole line (the mark's at least): the rest is read again with what follows it.
    const whole = Math.max(piece.lastIndexOf(0x0a) + 1, read === 0 ? mark.offset - start : 0);
    if (whole > 0) {
      if (used + whole > buffer.length) {
        // Room for this read and as much again: a log that keeps growing is copied a few times, not each read.
        const grown = new Uint8Array(read === 0 ? whole : 2 * (used + whole));
        grown.set(buffer.subarray(0, used));
        buffer = grown;
      }
      buffer.set(piece.subarray(0, whole), used);
      used += whole;
      lines.grow(buffer.subarray(0, used));
      lines.index(used);
      options.show(numbered);
    }
    if (whole < CAUGHT_UP_BYTES || ++read >= CATCH_UP_READS) break;
    piece = await bytesOf(await get(`bytes=${start + used}-`));
  }
  const head = async () => {
    const bytes = new Uint8Array(start);
    const headLines = new ByteLines(bytes);
    await readPieces(get, bytes, start, (upTo) => headLines.index(upTo));
    headLines.index(start);
    return new JoinedLines(headLines, lines);
  };
  return { lines: numbered, next: start + used, head: start > 0 ? head : null };
}

export async function readLog({ path, token, signal, show, mark }: ReadLogOptions): Promise<void> {
  const get = rangeReader({ path, token, signal });
  // The end, and the server's count of lines that numbers it (asked together; a log it cannot count stays unnumbered until read).
  const [first, counted] = await Promise.all([get(`bytes=-${TAIL_BYTES}`), mark().catch(() => null)]);
  if (!first) throw new Error('could not read the log (416: the server found no bytes in it)');
  const end = new Uint8Array(await first.arrayBuffer());
  const range = /^bytes (\d+)-(-?\d+)\/(\d+)$/.exec(first.headers.get('content-range') ?? '');
  // A 200 is the whole log (an empty one, or a server that ignored the range).
  const from = first.status === 206 && range ? Number(range[1]) : 0;
  const total = first.status === 206 && range ? Number(range[3]) : end.length;
  if (from === 0) {
    const whole = new ByteLines(end);
    whole.index(end.length);
    return show(whole, null);
  }
  // Until the whole log is here its end stays in view, numbered by the server's count or, without one, unnumbered.
  const skip = firstLineStart(end);
  const kept = new ByteLines(end.subarray(skip), from + skip);
  kept.index(end.length - skip);
  const before = counted && linesBefore(end.subarray(skip), from + skip, counted);
  const tail = typeof before === 'number' ? new JoinedLines(new CountedLines(before), kept) : tailLines(end, from);
  show(tail, { loaded: end.length, total });

  const bytes = new Uint8Array(total);
  bytes.set(end, from);
  const lines = new ByteLines(bytes);
  await readPieces(get, bytes, from, (upTo) => {
    lines.index(upTo);
    show(tail, { loaded: upTo + end.length, total });
  });
  lines.index(total);
  show(lines, null);
}
