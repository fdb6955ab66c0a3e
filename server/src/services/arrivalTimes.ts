/**
 * When each part of a run's output arrived: a small side index of the log, kept beside it in
 * `<log>.times`, one line `<byte offset> <epoch ms>` per entry. An entry says the log's bytes from that
 * offset on arrived at that time (until the next entry), so a line's time is that of the last entry at
 * or before its first byte.
 *
 * It is sparse by design: an entry is recorded only when at least `resolutionMs` have passed since the
 * last one (a million lines written in a burst cost a handful of entries), and at most `maxEntries` are
 * kept (`complete` is false past that: later output has no time of its own). The index is append-only
 * while the run goes; a log capped past its head is rewritten once when it closes, since only then is
 * it known where the kept tail lands in the log.
 */
import { appendFileSync, closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import type { LogTimes } from '../../../shared/src/schemas/logEvent';
import type { Run } from '../../../shared/src/schemas/run';

/** An index as read: parallel arrays, offsets increasing. */
export interface TimeIndex {
  offsets: number[];
  at: number[];
  /** False when recording stopped at the entry limit: output past the last entry has no time of its own. */
  complete: boolean;
}

export interface ArrivalTimesOptions {
  resolutionMs: number;
  maxEntries: number;
}

export const ARRIVAL_TIMES_DEFAULTS: ArrivalTimesOptions = { resolutionMs: 100, maxEntries: 100_000 };

/** The index file of a log. */
export const timesPath = (logPath: string) => `${logPath}.times`;

/** The line that marks an index whose recording stopped at the entry limit. */
const FULL = 'full';

export class ArrivalTimes {
  private readonly offsets: number[] = [];
  private readonly at: number[] = [];
  private full = false;

  private constructor(
    private fd: number | null,
    private readonly path: string,
    private readonly options: ArrivalTimesOptions,
  ) {}

  static create(logPath: string, options: ArrivalTimesOptions = ARRIVAL_TIMES_DEFAULTS): ArrivalTimes {
    const path = timesPath(logPath);
    let fd: number | null = null;
    try {
      fd = openSync(path, 'w', 0o640);
    } catch {
      // No index then (the log itself says what went wrong with the disk).
    }
    return new ArrivalTimes(fd, path, options);
  }

  /** Output from byte `offset` of what the tool wrote arrived at `now` (epoch ms). */
  record(offset: number, now: number): void {
    if (this.full || this.fd === null) return;
    const last = this.at.length - 1;
    if (last >= 0 && now - (this.at[last] ?? 0) < this.options.resolutionMs) return;
    if (last >= 0 && offset <= (this.offsets[last] ?? 0)) return;
    if (this.offsets.length >= this.options.maxEntries) {
      this.full = true;
      this.append(`${FULL}\n`);
      return;
    }
    this.offsets.push(offset);
    this.at.push(now);
    this.append(`${offset} ${now}\n`);
  }

  /** The entries for log bytes [from, to): the one in force at `from` first, then those after it. */
  between(from: number, to: number): TimeIndex {
    return slice({ offsets: this.offsets, at: this.at, complete: !this.full }, from, to);
  }

  /**
   * The log kept its output up to `head`, then (from log offset `logAt`) the output from byte `keptFrom`
   * on, and nothing past `logEnd`: entries move to where their bytes are in the log, those of output
   * left out go (the one in force where the kept tail starts moves there), and the file is written anew.
   */
  remap({ head, keptFrom, logAt, logEnd }: { head: number; keptFrom: number; logAt: number; logEnd: number }): void {
    const offsets: number[] = [];
    const at: number[] = [];
    const add = (offset: number, time: number) => {
      if (offset >= logEnd) return;
      if (offsets.length > 0 && offsets[offsets.length - 1] === offset) {
        at[at.length - 1] = time;
      } else {
        offsets.push(offset);
        at.push(time);
      }
    };
    let inForce: number | null = null;
    for (let i = 0; i < this.offsets.length; i++) {
      const offset = this.offsets[i] ?? 0;
      const time = this.at[i] ?? 0;
      if (offset < head) add(offset, time);
      else if (offset < keptFrom) inForce = time;
      else {
        if (inForce !== null && offset > keptFrom) add(logAt, inForce);
        inForce = null;
        add(logAt + offset - keptFrom, time);
      }
    }
    if (inForce !== null) add(logAt, inForce);
    this.offsets.splice(0, Infinity, ...offsets);
    this.at.splice(0, Infinity, ...at);
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = openSync(this.path, 'w', 0o640);
    this.append(format(offsets, at, this.full));
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }

  /** Best effort: the index helps reading a log; a failure to write it never fails the run. */
  private append(text: string): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, text);
    } catch {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

function format(offsets: number[], at: number[], full: boolean): string {
  let text = '';
  for (let i = 0; i < offsets.length; i++) text += `${offsets[i]} ${at[i]}\n`;
  return full ? `${text}${FULL}\n` : text;
}

/** The entries of `index` for log bytes [from, to): the one in force at `from` first. */
export function slice(index: TimeIndex, from: number, to: number): TimeIndex {
  const { offsets, at } = index;
  // The last entry at or before `from`.
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((offsets[mid] ?? 0) <= from) lo = mid + 1;
    else hi = mid;
  }
  const start = Math.max(0, lo - 1);
  let end = start;
  while (end < offsets.length && (offsets[end] ?? 0) < to) end++;
  return { offsets: offsets.slice(start, end), at: at.slice(start, end), complete: index.complete };
}

/**
 * The index of a log as its file holds it, for log bytes [from, to) (`to`: what of the log is
 * readable now). An index missing (a run from before it existed, or one never started) is empty.
 */
export function readTimes(logPath: string, from: number, to: number): TimeIndex {
  let text: string;
  try {
    text = readFileSync(timesPath(logPath), 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { offsets: [], at: [], complete: true };
    throw e;
  }
  const offsets: number[] = [];
  const at: number[] = [];
  let complete = true;
  // A last line without its break is being written: left for the next read.
  const end = text.lastIndexOf('\n');
  for (const line of text.slice(0, end + 1).split('\n')) {
    if (line === FULL) complete = false;
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const offset = Number(line.slice(0, space));
    const time = Number(line.slice(space + 1));
    if (Number.isSafeInteger(offset) && Number.isSafeInteger(time) && (offsets.length === 0 || offset > (offsets[offsets.length - 1] ?? 0))) {
      offsets.push(offset);
      at.push(time);
    }
  }
  return slice({ offsets, at, complete }, from, to);
}

/**
 * A run's arrival times as the API answers them: from the entry in force at byte `from` on, over what
 * of its log is readable now, in milliseconds after the run started.
 */
export async function runLogTimes(
  runs: { get(runId: string): Promise<Run>; logPath(runId: string): string; logState(runId: string): Promise<{ length: number }> },
  runId: string,
  from: number,
): Promise<LogTimes> {
  const run = await runs.get(runId);
  // How far the log may be read (on a fleet's API node this starts copying it, with its index, from the log bus).
  const { length: size } = await runs.logState(runId);
  const file = runs.logPath(runId);
  const index = run.started_at ? readTimes(file, from, size) : { offsets: [], at: [], complete: true };
  const start = run.started_at ? Date.parse(run.started_at) : 0;
  return {
    run_id: runId,
    started_at: run.started_at,
    offsets: index.offsets,
    // The index's clock starts as the log opens, a moment before the run is recorded as started.
    elapsed_ms: index.at.map((t) => Math.max(0, t - start)),
    log_bytes: size,
    complete: index.complete,
  };
}

/**
 * The whole lines of a log's index file from byte `from` on, and where they end: what a fleet worker
 * has not sent yet. Empty when there is no index.
 */
export function timesTextFrom(logPath: string, from: number): { text: string; next: number } {
  let fd: number;
  try {
    fd = openSync(timesPath(logPath), 'r');
  } catch {
    return { text: '', next: from };
  }
  try {
    const chunks: Buffer[] = [];
    const piece = Buffer.allocUnsafe(64 * 1024);
    for (let at = from; ; ) {
      const n = readSync(fd, piece, 0, piece.length, at);
      if (n === 0) break;
      chunks.push(Buffer.from(piece.subarray(0, n)));
      at += n;
    }
    const text = Buffer.concat(chunks).toString('latin1');
    const end = text.lastIndexOf('\n') + 1;
    return { text: text.slice(0, end), next: from + end };
  } finally {
    closeSync(fd);
  }
}

/** Adds index lines to a log copy's index (`whole`: they are all of it, in place of what it had). */
export function copyTimes(logPath: string, text: string, whole: boolean): void {
  if (whole) writeFileSync(timesPath(logPath), text, { mode: 0o640 });
  else if (text) appendFileSync(timesPath(logPath), text, { mode: 0o640 });
}
