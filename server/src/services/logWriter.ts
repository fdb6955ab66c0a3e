/**
 * Appends a run's output to its log file and tells how much of it is durable (readable).
 *
 * Writes are synchronous: the file is in the page cache, where writing a chunk (at most 64 KiB, as
 * read from the tool) takes microseconds, less than a thread-pool round trip, and the bytes are
 * readable the moment `length` says so.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export class LogWriter {
  /** Bytes written to the file; readers may read up to here. */
  length = 0;
  /** Set when the file could not be written (disk full, say): later output is dropped, not buffered. */
  failure: Error | null = null;

  private constructor(private fd: number | null) {}

  static create(path: string): LogWriter {
    return new LogWriter(openSync(path, 'wx', 0o640));
  }

  write(chunk: Uint8Array): void {
    if (this.failure || this.fd === null) return;
    try {
      for (let offset = 0; offset < chunk.length; ) {
        const written = writeSync(this.fd, chunk, offset, chunk.length - offset, this.length);
        offset += written;
        this.length += written;
      }
    } catch (e) {
      this.failure = e as Error;
    }
  }

  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = null;
  }
}
