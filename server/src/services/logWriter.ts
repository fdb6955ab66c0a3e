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
 */
import { closeSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';

export class LogWriter {
  /** Bytes written to the log file; readers may read up to here. */
  length = 0;
  /** Bytes the tool wrote, kept or not. */
  received = 0;
  /** Set when the file could not be written (disk full, say): later output is dropped, not buffered. */
  failure: Error | null = null;
  private tail: { fd: number; path: string; size: number } | null = null;

  private constructor(
    private fd: number | null,
    private readonly path: string,
    private readonly maxBytes: number,
  ) {}

  static create(path: string, maxBytes: number): LogWriter {
    return new LogWriter(openSync(path, 'wx', 0o640), path, maxBytes);
  }

  /** Whether output was left out of the log. */
  get truncated(): boolean {
    return this.received > this.maxBytes;
  }

  private headBytes(): number {
    return Math.floor((this.maxBytes * 3) / 4);
  }

  write(chunk: Uint8Array): void {
    if (this.failure || this.fd === null) return;
    try {
      // The head, straight into the log; what does not fit goes round the ring.
      const room = Math.min(chunk.length, Math.max(0, this.headBytes() - this.received));
      if (room > 0) this.length += writeAll(this.fd, chunk, 0, room, this.length);
      this.received += room;
      if (room < chunk.length) this.toTail(chunk.subarray(room));
    } catch (e) {
      this.failure = e as Error;
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
    writeAll(fd, keep, 0, first, start);
    if (first < keep.length) writeAll(fd, keep, first, keep.length - first, 0);
    this.received += bytes.length;
  }

  /** Ends the log: when it was capped, the marker and the tail follow the head. */
  close(): void {
    if (this.fd === null) return;
    try {
      if (this.tail && !this.failure) {
        const { fd, size } = this.tail;
        const ringBytes = this.received - this.headBytes();
        const tailLength = Math.min(size, ringBytes);
        const tail = Buffer.alloc(tailLength);
        if (ringBytes <= size) readSync(fd, tail, 0, tailLength, 0);
        else {
          // Oldest first: from the next write position round to it.
          const next = ringBytes % size;
          readSync(fd, tail, 0, size - next, next);
          readSync(fd, tail, size - next, next, 0);
        }
        if (ringBytes <= size) this.length += writeAll(this.fd, tail, 0, tail.length, this.length);
        else {
          // Start the tail at a line start, so no line is shown cut at its beginning.
          const nl = tail.indexOf(0x0a);
          const from = nl >= 0 && nl < tail.length - 1 ? nl + 1 : 0;
          const skipped = this.received - this.length - (tail.length - from);
          const marker = Buffer.from(`\n[oss-runner: the log is capped at ${this.maxBytes} bytes: ${skipped} bytes of output are left out here]\n`);
          this.length += writeAll(this.fd, marker, 0, marker.length, this.length);
          this.length += writeAll(this.fd, tail, from, tail.length - from, this.length);
        }
      }
    } catch (e) {
      this.failure ??= e as Error;
    } finally {
      if (this.tail) {
        closeSync(this.tail.fd);
        unlinkSync(this.tail.path);
        this.tail = null;
      }
      ftruncateSync(this.fd, this.length);
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): number {
  for (let done = 0; done < length; ) done += writeSync(fd, bytes, offset + done, length - done, position + done);
  return length;
}
