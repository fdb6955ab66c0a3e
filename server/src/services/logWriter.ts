/**
 * Appends a run's output to its log file and tells how much of it is durable (readable).
 *
 * Writes are synchronous: the file is in the page cache, where writing a chunk (at most 64 KiB, as
 * read from the tool) takes microseconds, less than a thread-pool round trip, and the bytes are
 * readable the moment `length` says so.
 *
 * The log is capped at `maxBytes`: its first three quarters are written as they come (and read live);
 * the rest of the output goes round a ring file of the last quarter's size, and when the run ends the
 * ring follows the head: whole, when the output fit, or after a marker line, from a line start, when
 * output was left out. The tool keeps running throughout; nothing is held in memory.
 *
 * When the file cannot be written (the disk is full, say) the rest of the output is left out, the log
 * counts as truncated, and a note line says so at its end. On a disk that stays full the note is
 * written over the log's last lines when the run ends: space the file holds already, so it fits.
 */
import { closeSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { isDiskFull } from '../errors';
import { ArrivalTimes, ARRIVAL_TIMES_DEFAULTS, type ArrivalTimesOptions } from './arrivalTimes';

export class LogWriter {
  /** Bytes written to the log file; readers may read up to here. */
  length = 0;
  /** Bytes the tool wrote, kept or not. */
  received = 0;
  /** Set when the file could not be written (disk full, say): later output is dropped, not buffered. */
  failure: Error | null = null;
  private tail: { fd: number; path: string; size: number } | null = null;
  /** Whether the note saying why output is left out is in the log. */
  private noted = false;
  /** Whether the log so far ends a line (the note then needs no newline before it). */
  private lineEnded = true;

  private fd: number | null;
  private readonly path: string;
  private readonly maxBytes: number;
  /** When each part of the output arrived, beside the log. */
  readonly times: ArrivalTimes;

  private constructor({ fd, path, maxBytes, times }: { fd: number; path: string; maxBytes: number; times: ArrivalTimes }) {
    this.fd = fd;
    this.path = path;
    this.maxBytes = maxBytes;
    this.times = times;
  }

  static create(path: string, maxBytes: number, times: ArrivalTimesOptions = ARRIVAL_TIMES_DEFAULTS): LogWriter {
    // Readable too: on a disk that stays full the note is placed after the last whole line written.
    const fd = openSync(path, 'wx+', 0o640);
    return new LogWriter({ fd, path, maxBytes, times: ArrivalTimes.create(path, times) });
  }

  /** Whether output was left out of the log. */
  get truncated(): boolean {
    return this.received > this.maxBytes || this.failure !== null;
  }

  /** Whether writing failed for lack of space. */
  get diskFull(): boolean {
    return isDiskFull(this.failure);
  }

  private headBytes(): number {
    return Math.floor((this.maxBytes * 3) / 4);
  }

  write(chunk: Uint8Array): void {
    this.times.record(this.received, Date.now());
    if (this.failure || this.fd === null) {
      this.received += chunk.length;
      return;
    }
    const before = this.received;
    try {
      // The head, straight into the log; what does not fit goes round the ring.
      const room = Math.min(chunk.length, Math.max(0, this.headBytes() - this.received));
      if (room > 0) {
        this.length += writeAll(this.fd, chunk.subarray(0, room), this.length);
        this.lineEnded = chunk[room - 1] === 0x0a;
      }
      this.received += room;
      if (room < chunk.length) this.toTail(chunk.subarray(room));
    } catch (e) {
      this.failure = e as Error;
      this.received = Math.max(this.received, before + chunk.length);
      // Now, while readers are still reading: on a full disk it may not fit yet (close tries again).
      this.writeNote(false);
    }
  }

  /** Ends the log with a line saying why the rest of the output is left out; `makeRoom`: over the log's last bytes if need be. */
  private writeNote(makeRoom: boolean): void {
    if (this.noted || !this.failure || this.fd === null) return;
    const code = (this.failure as NodeJS.ErrnoException).code ?? this.failure.message;
    const why = this.diskFull ? 'the disk is full' : 'the log could not be written';
    const line = `[oss-runner: ${why} (${code}): output from here on is left out of the log]\n`;
    try {
      const note = Buffer.from(`${this.lineEnded ? '' : '\n'}${line}`);
      this.length += writeAll(this.fd, note, this.length);
      this.noted = true;
      return;
    } catch {
      if (!makeRoom || !this.diskFull) return;
    }
    // The disk stays full: the note takes the place of the log's last lines, in blocks the file holds already.
    let cut = Math.max(0, this.length - Buffer.byteLength(line));
    let lineStart = cut === 0;
    if (cut > 0) {
      const window = Buffer.alloc(Math.min(cut, 4096));
      const n = readSync(this.fd, window, 0, window.length, cut - window.length);
      const nl = window.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) [cut, lineStart] = [cut - window.length + nl + 1, true];
      else cut = Math.max(0, cut - 1);
    }
    const note = Buffer.from(`${lineStart ? '' : '\n'}${line}`);
    try {
      writeAll(this.fd, note, cut);
      this.length = cut + note.length;
      this.noted = true;
    } catch {
      // Not even that: the run's error says the disk was full.
    }
  }

  /** Past the head: round the ring file of the tail's size. */
  private toTail(bytes: Uint8Array): void {
    if (!this.tail) {
      const path = `${this.path}.tail`;
      this.tail = { fd: openSync(path, 'w+', 0o600), path, size: this.maxBytes - this.headBytes() };
    }
    const { fd, size } = this.tail;
    // Only the last `size` bytes can matter.
    const keep = bytes.length > size ? bytes.subarray(bytes.length - size) : bytes;
    const start = (this.received + (bytes.length - keep.length) - this.headBytes()) % size;
    const first = Math.min(keep.length, size - start);
    writeAll(fd, keep.subarray(0, first), start);
    if (first < keep.length) writeAll(fd, keep.subarray(first), 0);
    this.received += bytes.length;
  }

  /**
   * The ring, oldest byte first, after the head: whole when the output fit, else after a marker line
   * and from the first line start. Copied in pieces: the tail is never held in memory at once.
   */
  private appendTail(log: number, ring: { fd: number; size: number }): void {
    const ringBytes = this.received - this.headBytes();
    const length = Math.min(ring.size, ringBytes);
    const oldest = ringBytes <= ring.size ? 0 : ringBytes % ring.size;
    const piece = Buffer.allocUnsafe(Math.min(length, TAIL_COPY_BYTES));
    /** Reads `n` bytes of the tail from logical offset `at` into `piece`. */
    const readAt = (at: number, n: number) => {
      const physical = (oldest + at) % ring.size;
      const first = Math.min(n, ring.size - physical);
      readSync(ring.fd, piece, 0, first, physical);
      if (first < n) readSync(ring.fd, piece, first, n - first, 0);
    };
    let from = 0;
    const head = this.length;
    if (ringBytes > ring.size) {
      // Start at a line start, so no line is shown cut at its beginning.
      readAt(0, piece.length);
      const nl = piece.indexOf(0x0a);
      if (nl >= 0 && nl < length - 1) from = nl + 1;
      const skipped = this.received - this.length - (length - from);
      const marker = Buffer.from(`\n[oss-runner: the log is capped at ${this.maxBytes} bytes: ${skipped} bytes of output are left out here]\n`);
      this.length += writeAll(log, marker, this.length);
    }
    const logAt = this.length;
    for (let at = from; at < length; at += piece.length) {
      const n = Math.min(piece.length, length - at);
      readAt(at, n);
      this.length += writeAll(log, piece.subarray(0, n), this.length);
      this.lineEnded = piece[n - 1] === 0x0a;
    }
    // The tail's bytes are where they are in the log only now: so are their arrival times.
    this.times.remap({ head, keptFrom: this.received - length + from, logAt, logEnd: this.length });
  }

  /** Ends the log: when it was capped, the marker and the tail follow the head. Never throws: a failure is in `failure`. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    const step = (work: () => void) => {
      try {
        work();
      } catch (e) {
        this.failure ??= e as Error;
      }
    };
    const tail = this.tail;
    if (tail && !this.failure) step(() => this.appendTail(fd, tail));
    step(() => this.writeNote(true));
    if (tail) {
      step(() => closeSync(tail.fd));
      step(() => unlinkSync(tail.path));
      this.tail = null;
    }
    step(() => ftruncateSync(fd, this.length));
    step(() => closeSync(fd));
    this.times.close();
    this.fd = null;
  }
}

/** Pieces the tail is copied in when the log closes. */
const TAIL_COPY_BYTES = 1024 * 1024;

/** Writes all of `bytes` at `position` (a write may take fewer than it was given); returns how many. */
function writeAll(fd: number, bytes: Uint8Array, position: number): number {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  return bytes.length;
}
