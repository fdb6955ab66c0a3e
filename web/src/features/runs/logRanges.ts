/**
 * A finished run's log read by byte ranges from the raw log (GET /runs/{run_id}/log, with a
 * short-lived run-bound token as ?access_token=): its last bytes first, shown at once, then the
 * whole of it in pieces, indexed as they arrive, for line numbers, links and search. Nothing is
 * replayed through the live stream, and the bytes are kept as bytes.
 */
import { ByteLines, tailLines, type LogLines } from './logLines';

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
  /** The lines to show: the log's end (not numbered) while the rest loads, then all of it. */
  show: (lines: LogLines, progress: LogProgress | null) => void;
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

/**
 * Reads ranges of the raw log (null: all of it); a token that expired between them is replaced once.
 * A range past the end is null (a running log that has not grown).
 */
function rangeReader({ path, token, signal }: Pick<ReadLogOptions, 'path' | 'token' | 'signal'>) {
  let current: string | null = null;
  return async (range: string | null): Promise<Response | null> => {
    current ??= await token();
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${path}?access_token=${encodeURIComponent(current)}`, { headers: range ? { Range: range } : {}, signal, cache: 'no-store' });
      if (res.status === 401 && attempt === 0) {
        current = await token();
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

/**
 * A running log's lines written so far, up to the end of its last whole line: read as bytes, again
 * from where the last read's whole lines ended while the log grows fast (bytes cost the server and
 * the browser far less than the same output replayed as events), each read's lines shown. The live
 * stream then resumes from `next` (a byte offset, as its event ids are) instead of replaying them.
 */
export async function readWritten(options: Pick<ReadLogOptions, 'path' | 'token' | 'signal'> & { show: (lines: ByteLines) => void }): Promise<{ lines: ByteLines; next: number }> {
  const get = rangeReader(options);
  let buffer = new Uint8Array(0);
  let next = 0;
  const lines = new ByteLines(buffer);
  for (let read = 0; read < CATCH_UP_READS; read++) {
    const res = await get(next === 0 ? null : `bytes=${next}-`);
    const piece = res ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(0);
    // Up to the end of its last whole line: the rest is read again with what follows it.
    const whole = piece.lastIndexOf(0x0a) + 1;
    if (whole > 0) {
      if (next + whole > buffer.length) {
        // Room for this read and as much again: a log that keeps growing is copied a few times, not each read.
        const grown = new Uint8Array(read === 0 ? whole : 2 * (next + whole));
        grown.set(buffer.subarray(0, next));
        buffer = grown;
      }
      buffer.set(piece.subarray(0, whole), next);
      next += whole;
      lines.grow(buffer.subarray(0, next));
      lines.index(next);
      options.show(lines);
    }
    if (whole < CAUGHT_UP_BYTES) break;
  }
  return { lines, next };
}

export async function readLog({ path, token, signal, show }: ReadLogOptions): Promise<void> {
  const get = rangeReader({ path, token, signal });

  const first = await get(`bytes=-${TAIL_BYTES}`);
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
  // Until the whole log is here its end stays in view: line numbers need every line before it.
  const tail = tailLines(end, from);
  show(tail, { loaded: end.length, total });

  const bytes = new Uint8Array(total);
  bytes.set(end, from);
  const lines = new ByteLines(bytes);
  const piece = (at: number) => {
    const p = get(`bytes=${at}-${Math.min(from, at + PIECE_BYTES) - 1}`).then(async (res) => (res ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array(0)));
    p.catch(() => undefined); // awaited below; an abort meanwhile must not surface as unhandled
    return p;
  };
  let next = piece(0);
  for (let at = 0; at < from; at += PIECE_BYTES) {
    const got = await next;
    if (at + PIECE_BYTES < from) next = piece(at + PIECE_BYTES);
    const want = Math.min(from, at + PIECE_BYTES) - at;
    if (got.length !== want) throw new Error(`could not read the log: ${got.length} bytes came for a range of ${want}`);
    bytes.set(got, at);
    lines.index(at + want);
    show(tail, { loaded: at + want + end.length, total });
  }
  lines.index(total);
  show(lines, null);
}
