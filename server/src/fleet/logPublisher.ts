/**
 * The worker's side of the log bus (logStreams.ts): each run's log file appended to its stream as it grows.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { timesTextFrom } from '../services/arrivalTimes';
import { retryDelayMs } from '../lib/retryDelay';
import { LocalLogFeed, type LogFeed } from '../services/logFeed';
import type { LogState } from '../services/logStream';
import { BATCH_ENTRIES, ENTRY_BYTES, parseId, streamKey } from './logStreams';
import type { Redis } from './redis';

interface Outgoing {
  /** Bytes of the log already in the stream. */
  sent: number;
  /** Bytes of the log's arrival-time index already in the stream (entries carry its new lines as `t`). */
  timesSent: number;
  flushing: boolean;
  again: boolean;
  /** After a failure or a reconnection, what the stream holds is read back before sending more (Redis may have restarted empty). */
  resync: boolean;
  /** The one retry pending while Redis does not answer (output meanwhile waits in the log file). */
  retry?: NodeJS.Timeout | undefined;
  /** Copies failed in a row: the retries wait longer as they go on. */
  failures: number;
}

/**
 * The worker's side: a LogFeed that, besides telling local readers, copies each run's new log bytes
 * to its stream. Output that comes while a copy is under way goes in the next one (bigger entries,
 * fewer round trips); while Redis is unreachable the log file keeps it, and it is sent on return.
 */
export class LogPublisher implements LogFeed {
  private readonly local = new LocalLogFeed();
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly buffer = Buffer.allocUnsafe(ENTRY_BYTES);

  constructor(
    private readonly deps: { redis: Redis; prefix: string; state: (runId: string) => Promise<LogState>; logPath: (runId: string) => string },
    private readonly options: { ttlS: number; liveTtlS: number; onError: (message: string, e: unknown) => void },
  ) {
    // A Redis that comes back may have come back empty, or without the last writes: check before sending
    // on, at once (a retry waiting its turn is not waited for).
    deps.redis.on('ready', () => {
      for (const [runId, out] of this.outgoing) {
        out.resync = true;
        if (!out.retry) continue;
        clearTimeout(out.retry);
        out.retry = undefined;
        this.publish(runId);
      }
    });
  }

  subscribe(runId: string, listener: () => void): () => void {
    return this.local.subscribe(runId, listener);
  }

  publish(runId: string): void {
    this.local.publish(runId);
    let out = this.outgoing.get(runId);
    if (!out) this.outgoing.set(runId, (out = { sent: 0, timesSent: 0, flushing: false, again: false, resync: false, failures: 0 }));
    if (out.flushing) out.again = true;
    else if (!out.retry) void this.flush(runId, out);
  }

  /** Whether this run's log is still being copied (its file must stay meanwhile). */
  sending(runId: string): boolean {
    return this.outgoing.has(runId);
  }

  /** Logs still being copied (shutdown waits for them briefly). */
  get pending(): number {
    return this.outgoing.size;
  }

  private async flush(runId: string, out: Outgoing): Promise<void> {
    out.flushing = true;
    try {
      do {
        out.again = false;
        await this.send(runId, out);
      } while (out.again);
      out.failures = 0;
    } catch (e) {
      // Told once, then every tenth try in a row (a failure that lasts is not one line a second).
      if (out.failures++ % 10 === 0) this.options.onError(`copying the log of run ${runId} to Redis failed${out.failures > 1 ? ` ${out.failures} times in a row` : ''}; trying again, less often as it goes on`, e);
      out.resync = true;
      out.retry = setTimeout(
        () => {
          out.retry = undefined;
          this.publish(runId);
        },
        retryDelayMs(out.failures - 1),
      );
      out.retry.unref();
    } finally {
      out.flushing = false;
    }
  }

  private async send(runId: string, out: Outgoing): Promise<void> {
    const key = streamKey(this.deps.prefix, runId);
    const { length, ended } = await this.deps.state(runId);
    if (out.resync) {
      const [last] = await this.deps.redis.xrevrange(key, '+', '-', 'COUNT', 1);
      out.resync = false;
      const top = last ? parseId(last[0]) : { end: 0, final: false };
      // The end marker landed already (its reply was lost): nothing more to send.
      if (top.final) {
        this.outgoing.delete(runId);
        return;
      }
      out.sent = top.end;
      // Index lines sent twice are harmless (a copy keeps increasing offsets only): all of it again.
      out.timesSent = 0;
    }
    if (out.sent < length) {
      const fd = openSync(this.deps.logPath(runId), 'r');
      try {
        while (out.sent < length) {
          const batch = this.deps.redis.pipeline();
          let at = out.sent;
          const times = timesTextFrom(this.deps.logPath(runId), out.timesSent);
          for (let i = 0; i < BATCH_ENTRIES && at < length; i++) {
            const n = readSync(fd, this.buffer, 0, Math.min(ENTRY_BYTES, length - at), at);
            if (n === 0) break;
            // A copy: the pipeline keeps the bytes until it is sent.
            const data = Buffer.from(this.buffer.subarray(0, n));
            if (i === 0 && times.text) batch.xadd(key, `${at + n}-0`, 'o', String(at), 'd', data, 't', times.text);
            else batch.xadd(key, `${at + n}-0`, 'o', String(at), 'd', data);
            at += n;
          }
          batch.expire(key, this.options.liveTtlS);
          for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
          out.sent = at;
          out.timesSent = times.next;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (ended && out.sent >= length) {
      // The end carries the whole index: a capped log's was rewritten when it closed.
      const times = timesTextFrom(this.deps.logPath(runId), 0).text;
      // After what the stream holds: a run the fleet judged lost meanwhile is recorded with fewer bytes
      // than were sent (its end at `length` would be refused, every second, for good).
      const end = Math.max(length, out.sent);
      for (const [error] of (await this.deps.redis.multi().xadd(key, `${end}-1`, 'e', '1', 't', times).expire(key, this.options.ttlS).exec()) ?? []) if (error) throw error;
      this.outgoing.delete(runId);
    }
  }
}
