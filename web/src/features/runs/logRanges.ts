/**
 * A run's log read by byte ranges from the raw log (GET /runs/{run_id}/log, with a short-lived
 * run-bound token as ?access_token=): its last bytes first, shown at once and numbered as soon as the
 * server's count of the lines before them comes (GET /runs/{run_id}/log-lines, asked at the same
 * time), then the rest in pieces, indexed as they arrive, for scrolling, links and search. A running
 * log is followed by bytes from its end (logFollow.ts) before the live stream takes over. Nothing is replayed
 * through the live stream, and the bytes are kept as bytes.
 */
import type { LogLineMark } from '../../../../shared/src/schemas/logEvent';
import { ByteLines, CountedLines, firstLineStart, JoinedLines, UnnumberedLines, type LogLines } from './logLines';

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
  /** The run's token: the same one each time, until `renew` asks for another (the one held has expired). */
  token: (renew?: boolean) => Promise<string>;
  signal: AbortSignal;
  /** Where the log's last whole line ends and how many lines come before it (GET /runs/{run_id}/log-lines). */
  mark: () => Promise<LineMark>;
  /** The lines to show: the log's end (numbered once counted) while the rest loads, then all of it. */
  show: (lines: LogLines, progress: LogProgress | null) => void;
  /** The log's end, when it was read already (by readLogEnd, as the page opened): not read again. */
  end?: (signal: AbortSignal) => Promise<EndRead>;
}

export type LineMark = Pick<LogLineMark, 'offset' | 'lines'>;

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

export type RangeReader = (range: string | null) => Promise<Response | null>;

/**
 * Reads ranges of the raw log (null: all of it); a token that expired between them is replaced once.
 * A range past the end is null (a running log that has not grown). The token is asked for at once.
 */
export function rangeReader({ path, token, signal }: Pick<ReadLogOptions, 'path' | 'token' | 'signal'>): RangeReader {
  let current = token();
  current.catch(() => undefined); // awaited by the first read; an abort before it must not surface as unhandled
  return async (range) => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${path}?access_token=${encodeURIComponent(await current)}`, { headers: range ? { Range: range } : {}, signal, cache: 'no-store' });
      if (res.status === 401 && attempt === 0) {
        current = token(true);
        continue;
      }
      if (res.status === 416 && range) return null;
      if (res.status !== 200 && res.status !== 206) throw new Error(`could not read the log (${await reasonOf(res)})`);
      return res;
    }
  };
}

/** Times the server is asked to count again when the log outgrew its count before the end was read. */
export const RECOUNTS = 2;

export const bytesOf = async (res: Response | null) => (res ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(0));

/**
 * Reads the log's bytes [0, `end`) into `bytes` in pieces, two at a time; `onPiece(upTo)` after each,
 * bytes [0, upTo) being here then.
 */
export async function readPieces(get: RangeReader, bytes: Uint8Array, end: number, onPiece: (upTo: number) => void): Promise<void> {
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

/** The log's last bytes as read: where they begin, and the log's size then. */
export interface EndRead {
  bytes: Uint8Array;
  from: number;
  total: number;
}

/** The log's last TAIL_BYTES (all of it when shorter): its bytes, where they begin, and the log's size then. */
export async function readEnd(get: RangeReader): Promise<EndRead> {
  const res = await get(`bytes=-${TAIL_BYTES}`);
  // None: an empty log (a range of nothing).
  if (!res) return { bytes: new Uint8Array(0), from: 0, total: 0 };
  const bytes = await bytesOf(res);
  const range = /^bytes (\d+)-(-?\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  // A 200 is the whole log (a short one, or a server that ignored the range).
  return res.status === 206 && range ? { bytes, from: Number(range[1]), total: Number(range[3]) } : { bytes, from: 0, total: bytes.length };
}

/** The log's end, read before it is known whether the run is still running (which says how the rest is read). */
export const readLogEnd = (options: Pick<ReadLogOptions, 'path' | 'token' | 'signal'>): Promise<EndRead> => readEnd(rangeReader(options));

/**
 * A log's lines from a line's start (`start`, in the log) on, numbered once it is known how many come
 * before them: from the server's count, at a line's end within them.
 */
export class LogEnd {
  readonly lines: ByteLines;
  /** Lines before `start`; null while unknown. */
  before: number | null;

  constructor(
    readonly start: number,
    bytes: Uint8Array,
  ) {
    this.lines = new ByteLines(bytes, start);
    this.before = start === 0 ? 0 : null;
  }

  /**
   * Numbers the lines from `mark` (a line's end), given the bytes from `start` on read so far:
   * 'numbered', 'early' (the mark is before them: the log outgrew the count), or 'later' (past them).
   */
  number(mark: LineMark, bytes: Uint8Array): 'numbered' | 'early' | 'later' {
    if (this.before !== null) return 'numbered';
    if (mark.offset < this.start) return 'early';
    if (mark.offset - this.start > bytes.length) return 'later';
    const upToMark = new ByteLines(bytes.subarray(0, mark.offset - this.start));
    upToMark.index(mark.offset - this.start);
    this.before = Math.max(0, mark.lines - upToMark.count);
    return 'numbered';
  }

  /**
   * The lines as they can be shown now: numbered, with those before them counted but empty, or not yet.
   * The same object while that stays so (the view asks for it at each look and each piece read).
   */
  shown(): LogLines {
    if (this.view?.before !== this.before) this.view = { before: this.before, lines: this.build() };
    return this.view.lines;
  }

  private build(): LogLines {
    if (this.before === null) return new UnnumberedLines(this.lines);
    return this.before > 0 ? new JoinedLines(new CountedLines(this.before), this.lines) : this.lines;
  }

  private view: { before: number | null; lines: LogLines } | undefined;
}

/** The server's count, asked now, settled or not: the value once it has come (null for a failure). */
export function asked(mark: () => Promise<LineMark>): { value: LineMark | null | undefined; done: Promise<void> } {
  const state: { value: LineMark | null | undefined; done: Promise<void> } = { value: undefined, done: Promise.resolve() };
  state.done = mark().then(
    (m) => void (state.value = m),
    () => void (state.value = null),
  );
  return state;
}

/** A finished log: its end at once (numbered when the server's count comes), then the whole of it. */
export async function readLog({ path, token, signal, show, mark, end: early }: ReadLogOptions): Promise<void> {
  const get = rangeReader({ path, token, signal });
  const count = asked(mark);
  const { bytes: last, from, total } = await (early ? early(signal) : readEnd(get));
  if (from === 0) {
    const whole = new ByteLines(last);
    whole.index(last.length);
    return show(whole, null);
  }
  const skip = firstLineStart(last);
  const end = new LogEnd(from + skip, last.subarray(skip));
  end.lines.index(last.length - skip);
  let loaded = last.length;
  const showEnd = () => show(end.shown(), { loaded, total });
  showEnd();
  // Until the whole log is here its end stays in view, numbered as soon as the count comes.
  void count.done.then(() => {
    if (count.value && end.before === null && end.number(count.value, last.subarray(skip)) === 'numbered' && loaded < total) showEnd();
  });

  const bytes = new Uint8Array(total);
  bytes.set(last, from);
  const lines = new ByteLines(bytes);
  await readPieces(get, bytes, from, (upTo) => {
    lines.index(upTo);
    loaded = upTo + last.length;
    showEnd();
  });
  lines.index(total);
  loaded = total;
  show(lines, null);
}
