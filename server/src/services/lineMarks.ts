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
import { scanBreaks } from '../../../shared/src/lineBreaks';

/** A line boundary in a log: `lines` lines end at or before byte `offset`, and one begins there. */
export interface LineMark {
  offset: number;
  lines: number;
}

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
    let lastEnd = -1;
    const onBreak = (end: number) => {
      lines++;
      lastEnd = end;
    };
    for (let at = mark.offset; at < upTo; ) {
      const { bytesRead } = await handle.read(piece, 0, Math.min(PIECE_BYTES, upTo - at), at);
      if (bytesRead === 0) break;
      lastEnd = -1;
      const scanned = scanBreaks(piece.subarray(0, bytesRead), 0, onBreak);
      if (lastEnd >= 0) mark = { offset: at + lastEnd, lines };
      // A CR as the last byte read is not counted yet (it may be half of a CRLF): the next read starts
      // at it, and the mark stays before it when nothing follows.
      if (scanned === 0) break;
      at += scanned;
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
