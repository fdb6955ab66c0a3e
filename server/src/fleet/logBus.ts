/**
 * Live logs between the nodes of a fleet, over Redis Streams. A worker appends its log file to the
 * run's stream as it grows; every API node with readers copies the stream into a log file of its own,
 * and serves those readers from it exactly as a single server serves its own logs: same event ids
 * (byte offsets), same resume rule, one copy per node however many readers it has.
 *
 * Stream entry ids are byte offsets: an entry `END-0` carries the log bytes [o, END), and `LENGTH-1`
 * says the log is complete. A reader at offset N asks for the entries after `N-0`, so resuming
 * anywhere, on any node, needs no other bookkeeping. A stream holds at most the run's log cap (the log
 * itself is capped) and expires LOG_STREAM_TTL_S after the run ends.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinal, type Run } from '../../../shared/src/schemas/run';
import { LocalLogFeed, type LogFeed } from '../services/logFeed';
import type { LogState } from '../services/logStream';
import type { Redis } from './redis';

/** Bytes per stream entry (the size a log reader reads at once). */
const ENTRY_BYTES = 256 * 1024;
/** Entries sent or read per round trip: at most 4 MiB in memory at once. */
const BATCH_ENTRIES = 16;

export const streamKey = (prefix: string, runId: string) => `${prefix}:log:${runId}`;

/** What an entry id says: the offset the entry's bytes end at, and whether it is the end marker. */
function parseId(id: string): { end: number; final: boolean } {
  const dash = id.indexOf('-');
  return { end: Number(id.slice(0, dash)), final: id.slice(dash + 1) === '1' };
}

interface Outgoing {
  /** Bytes of the log already in the stream. */
  sent: number;
  flushing: boolean;
  again: boolean;
  /** After a failure, what the stream holds is read back before sending more (Redis may have restarted empty). */
  resync: boolean;
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
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly state: (runId: string) => Promise<LogState>,
    private readonly logPath: (runId: string) => string,
    private readonly options: { ttlS: number; liveTtlS: number; onError: (message: string, e: unknown) => void },
  ) {}

  subscribe(runId: string, listener: () => void): () => void {
    return this.local.subscribe(runId, listener);
  }

  publish(runId: string): void {
    this.local.publish(runId);
    let out = this.outgoing.get(runId);
    if (!out) this.outgoing.set(runId, (out = { sent: 0, flushing: false, again: false, resync: false }));
    if (out.flushing) out.again = true;
    else void this.flush(runId, out);
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
    } catch (e) {
      if (!out.resync) this.options.onError(`copying the log of run ${runId} to Redis failed; trying again every second`, e);
      out.resync = true;
      setTimeout(() => this.publish(runId), 1000).unref();
    } finally {
      out.flushing = false;
    }
  }

  private async send(runId: string, out: Outgoing): Promise<void> {
    const key = streamKey(this.prefix, runId);
    const { length, ended } = await this.state(runId);
    if (out.resync) {
      const [last] = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
      out.sent = last ? parseId(last[0]).end : 0;
      out.resync = false;
    }
    if (out.sent < length) {
      const fd = openSync(this.logPath(runId), 'r');
      try {
        while (out.sent < length) {
          const batch = this.redis.pipeline();
          let at = out.sent;
          for (let i = 0; i < BATCH_ENTRIES && at < length; i++) {
            const n = readSync(fd, this.buffer, 0, Math.min(ENTRY_BYTES, length - at), at);
            if (n === 0) break;
            // A copy: the pipeline keeps the bytes until it is sent.
            batch.xadd(key, `${at + n}-0`, 'o', String(at), 'd', Buffer.from(this.buffer.subarray(0, n)));
            at += n;
          }
          batch.expire(key, this.options.liveTtlS);
          for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
          out.sent = at;
        }
      } finally {
        closeSync(fd);
      }
    }
    if (ended && out.sent >= length) {
      await this.redis.multi().xadd(key, `${length}-1`, 'e', '1').expire(key, this.options.ttlS).exec();
      this.outgoing.delete(runId);
    }
  }
}

interface Incoming {
  length: number;
  ended: Run | null;
  fd: number;
  done: Promise<void>;
}

/**
 * An API node's side: copies a run's stream into LOG_DIR/runs/<run_id>.log as readers ask for it, and
 * answers the log streamer's questions (how far, ended?) from that copy. One blocking reader (its
 * own Redis connection) per run being copied; a complete copy is kept and served from disk.
 */
export class LogMirror {
  readonly feed = new LocalLogFeed();
  private readonly incoming = new Map<string, Incoming>();
  /** Runs whose whole log is on this node (newest last; bounded: an older one is simply checked again). */
  private readonly complete = new Map<string, true>();
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly dir: string,
    private readonly getRun: (runId: string) => Promise<Run | undefined>,
    private readonly options: { blockMs: number; idleEndMs: number; onError: (message: string, e: unknown) => void },
  ) {}

  logPath(runId: string): string {
    return path.join(this.dir, `${runId}.log`);
  }

  async logState(runId: string): Promise<LogState> {
    const copying = this.incoming.get(runId);
    if (copying) return { length: copying.length, ended: copying.ended };
    const run = await this.getRun(runId);
    if (!run) return { length: 0, ended: null };
    if (this.complete.has(runId) && isFinal(run.status)) return { length: this.sizeOf(runId), ended: run };
    const started = this.incoming.get(runId) ?? this.copy(runId);
    return { length: started.length, ended: started.ended };
  }

  /** Resolves once the log of a finished run is all here (or after `timeoutMs`). */
  async logComplete(runId: string, timeoutMs = 30_000): Promise<void> {
    const { ended } = await this.logState(runId);
    const copying = this.incoming.get(runId);
    if (!copying || ended) return;
    const run = await this.getRun(runId);
    if (run && isFinal(run.status)) await Promise.race([copying.done, sleep(timeoutMs)]);
  }

  private sizeOf(runId: string): number {
    try {
      const fd = openSync(this.logPath(runId), 'r');
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch {
      return 0;
    }
  }

  /** Starts copying a run's stream, from what this node already has of it. */
  private copy(runId: string): Incoming {
    // Append-only: what an earlier copy left is a prefix of the log, so it resumes from its end.
    const fd = openSync(this.logPath(runId), 'a+', 0o640);
    const copying: Incoming = { length: fstatSync(fd).size, ended: null, fd, done: Promise.resolve() };
    this.incoming.set(runId, copying);
    copying.done = this.follow(runId, copying)
      .catch((e: unknown) => this.options.onError(`copying the log of run ${runId} from Redis failed`, e))
      .finally(() => {
        closeSync(fd);
        this.incoming.delete(runId);
        this.feed.publish(runId);
      });
    return copying;
  }

  private async follow(runId: string, copying: Incoming): Promise<void> {
    const key = streamKey(this.prefix, runId);
    const reader = this.redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    reader.on('error', () => undefined);
    let idleSince = Date.now();
    try {
      while (!this.closed) {
        let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
        try {
          reply = await reader.xreadBuffer('COUNT', BATCH_ENTRIES, 'BLOCK', this.options.blockMs, 'STREAMS', key, `${copying.length}-0`);
        } catch {
          // Redis away: readers wait, the copy resumes where it was once it answers.
          await sleep(500);
          continue;
        }
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          if (await this.endedWithoutMarker(runId, key, reader, Date.now() - idleSince)) return this.finish(runId, copying);
          continue;
        }
        idleSince = Date.now();
        for (const [id, fields] of entries) {
          const { end, final } = parseId(id.toString());
          if (final) return this.finish(runId, copying);
          const from = Number(fieldOf(fields, 'o'));
          const data = fieldOf(fields, 'd');
          if (from > copying.length) {
            // Bytes that never reached Redis (it restarted before the worker could send them again): said, not hidden.
            const note = Buffer.from(`\n[oss-runner: ${from - copying.length} bytes of output were lost on the way from the worker]\n`);
            writeSync(copying.fd, note);
            copying.length = from;
          }
          if (data && end > copying.length) {
            const piece = data.subarray(copying.length - from);
            writeSync(copying.fd, piece);
            copying.length += piece.length;
          }
        }
        this.feed.publish(runId);
      }
    } finally {
      reader.disconnect();
    }
  }

  /**
   * Whether a quiet stream has ended with no marker: the run is over and either its stream is gone
   * (expired, or Redis lost it) or it ended as `lost` (its worker died), or nothing came for `idleEndMs`.
   */
  private async endedWithoutMarker(runId: string, key: string, reader: Redis, idleMs: number): Promise<boolean> {
    const run = await this.getRun(runId).catch(() => undefined);
    if (!run || !isFinal(run.status)) return false;
    if (run.status === 'lost' || idleMs > this.options.idleEndMs) return true;
    return (await reader.exists(key).catch(() => 1)) === 0;
  }

  private async finish(runId: string, copying: Incoming): Promise<void> {
    copying.ended = (await this.getRun(runId)) ?? null;
    this.complete.set(runId, true);
    if (this.complete.size > 10_000) this.complete.delete(this.complete.keys().next().value ?? '');
  }

  /** Stops copying (shutdown); copies resume on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.incoming.values()].map((c) => c.done));
  }
}

function fieldOf(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]?.toString() === name) return fields[i + 1];
  return undefined;
}
