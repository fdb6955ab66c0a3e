/**
 * Where a log's lines stand: the end of its last whole line, and how many lines come before it,
 * counted from the log file as the stream splits lines (every \n, \r\n or lone \r ends one). It lets
 * a viewer open a running log at its end with line numbers before it has read, or without reading,
 * what comes before. Counted on request (a run nobody watches costs nothing), and from the mark last
 * counted for the same log, so a log is scanned once however often it is asked about.
 */
import { open } from 'node:fs/promises';
import type { LogLineMark } from '../../../shared/src/schemas/logEvent';
import type { Run } from '../../../shared/src/schemas/run';

/** A line boundary in a log: `lines` lines end at or before byte `offset`, and one begins there. */
export interface LineMark {
  offset: number;
  lines: number;
}

const LF = 0x0a;
const CR = 0x0d;
/** Bytes read at once. */
const PIECE_BYTES = 1024 * 1024;
/** Logs whose last mark is kept (the least recently counted is forgotten first). */
const KEPT_MARKS = 256;

/** The last mark counted per log file. Logs only grow (a capped log keeps its head), so a mark stays true. */
const kept = new Map<string, LineMark>();

function keep(file: string, mark: LineMark): void {
  kept.delete(file);
  kept.set(file, mark);
  if (kept.size > KEPT_MARKS) kept.delete(kept.keys().next().value ?? file);
}

/**
 * Counts the line breaks in `bytes` (at log offset `base`), after a CR that ended the previous piece
 * when `pendingCr`; answers the breaks counted, where the last one ends, and whether the piece ends with
 * a CR (one more break, or half of a CRLF: the next byte says).
 */
function countBreaks(bytes: Buffer, base: number, pendingCr: boolean): { breaks: number; lastEnd: number; pendingCr: boolean } {
  let breaks = 0;
  let lastEnd = -1;
  let at = 0;
  if (pendingCr) {
    // A CR then LF is one break, ending after the LF; a CR then anything else ends a line by itself.
    breaks++;
    if (bytes[0] === LF) at = 1;
    lastEnd = base + at;
  }
  const end = bytes.length;
  if (bytes.indexOf(CR, at) < 0) {
    // Output with no CR (most of it): the engine's own search for each LF.
    for (let nl = bytes.indexOf(LF, at); nl >= 0; nl = bytes.indexOf(LF, nl + 1)) {
      breaks++;
      lastEnd = base + nl + 1;
    }
    return { breaks, lastEnd, pendingCr: false };
  }
  for (; at < end; at++) {
    const byte = bytes[at];
    if (byte === LF) {
      breaks++;
      lastEnd = base + at + 1;
    } else if (byte === CR) {
      if (at + 1 === end) return { breaks, lastEnd, pendingCr: true };
      if (bytes[at + 1] === LF) at++;
      breaks++;
      lastEnd = base + at + 1;
    }
  }
  return { breaks, lastEnd, pendingCr: false };
}

/**
 * The last line boundary within the first `upTo` bytes of the log `file` (a CR as the last of them
 * is not one yet: it may be half of a CRLF). A log that does not exist here has none but its start.
 */
export async function lastLineMark(file: string, upTo: number): Promise<LineMark> {
  const from = kept.get(file);
  let mark: LineMark = from && from.offset <= upTo ? from : { offset: 0, lines: 0 };
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return mark;
  }
  try {
    const piece = Buffer.allocUnsafe(PIECE_BYTES);
    let lines = mark.lines;
    let pendingCr = false;
    for (let at = mark.offset; at < upTo; ) {
      const { bytesRead } = await handle.read(piece, 0, Math.min(PIECE_BYTES, upTo - at), at);
      if (bytesRead === 0) break;
      const counted = countBreaks(piece.subarray(0, bytesRead), at, pendingCr);
      lines += counted.breaks;
      pendingCr = counted.pendingCr;
      // A CR left pending is not counted yet: the mark stays before it.
      if (counted.lastEnd >= 0) mark = { offset: counted.lastEnd, lines };
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
  keep(file, mark);
  return mark;
}

/** A run's line mark as the API answers it, over what of its log is readable now. */
export async function runLineMark(
  runs: { get(runId: string): Promise<Run>; logPath(runId: string): string; logState(runId: string): Promise<{ length: number }> },
  runId: string,
): Promise<LogLineMark> {
  await runs.get(runId);
  // How far the log may be read (on a fleet's API node this starts copying it from the log bus).
  const { length } = await runs.logState(runId);
  const mark = await lastLineMark(runs.logPath(runId), length);
  return { run_id: runId, offset: mark.offset, lines: mark.lines, log_bytes: length };
}
