/** Appends a run's output to its log file and tells how much of it is durable (readable). */
import { open, type FileHandle } from 'node:fs/promises';

export class LogWriter {
  /** Bytes written to the file; readers may read up to here. */
  length = 0;
  /** Set when the file could not be written (disk full, say): later output is dropped, not buffered. */
  failure: Error | null = null;

  private constructor(private readonly file: FileHandle) {}

  static async create(path: string): Promise<LogWriter> {
    return new LogWriter(await open(path, 'wx', 0o640));
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) return;
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.file.write(chunk, offset, chunk.length - offset, this.length);
        offset += bytesWritten;
        this.length += bytesWritten;
      }
    } catch (e) {
      this.failure = e as Error;
    }
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}
