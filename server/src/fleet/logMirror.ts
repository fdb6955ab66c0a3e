/**
 * An API node's side of the log bus (logStreams.ts): the streams of runs copied into log files of its
 * own, served to its readers exactly as a single server serves its own logs.
 */
import { closeSync, fstatSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFinal, type Run } from '../../../shared/src/schemas/run';
import { copyTimes } from '../services/arrivalTimes';
import { LocalLogFeed } from '../services/logFeed';
import type { LogState } from '../services/logStream';
import type { RunLogs } from '../services/runs/logs';
import { BATCH_ENTRIES, parseId, streamKey } from './logStreams';
import { ready, type Redis } from './redis';

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
export class LogMirror implements RunLogs {
  readonly feed = new LocalLogFeed();
  private readonly incoming = new Map<string, Incoming>();
  /**
   * Runs whose log copy is over, and until when that holds (newest last; bounded: an older one is
   * simply copied again). A copy ended by the stream's marker, or by a run lost or a stream gone, is
   * whole for good; one ended by silence alone is looked at again after a minute.
   */
  private readonly complete = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly deps: {
      redis: Redis;
      prefix: string;
      /** Where the copies go. */
      dir: string;
      getRun: (runId: string) => Promise<Run | undefined>;
      /** Whether the node that ran the run has no lease any more (killed, or gone): then nothing more of its log will come. */
      writerGone: (runId: string) => Promise<boolean>;
    },
    private readonly options: {
      blockMs: number;
      idleEndMs: number;
      onError: (message: string, e: unknown) => void;
      /** The log as archived in S3 from a byte offset on (none without S3): what a gone stream no longer holds. */
      archivedLog?: (runId: string, from: number) => Promise<AsyncIterable<Uint8Array> | null>;
      /** The log's arrival-time index as archived in S3. */
      archivedLogTimes?: (runId: string) => Promise<string | null>;
    },
  ) {
    mkdirSync(deps.dir, { recursive: true, mode: 0o750 });
  }

  logPath(runId: string): string {
    return path.join(this.deps.dir, `${runId}.log`);
  }

  async logState(runId: string): Promise<LogState> {
    const copying = this.incoming.get(runId);
    if (copying) return { length: copying.length, ended: copying.ended };
    const run = await this.deps.getRun(runId);
    if (!run) return { length: 0, ended: null };
    if ((this.complete.get(runId) ?? 0) > Date.now() && isFinal(run.status)) return { length: this.sizeOf(runId), ended: run };
    const started = this.incoming.get(runId) ?? this.copy(runId);
    return { length: started.length, ended: started.ended };
  }

  /** Resolves once the log of a finished run is all here (or after `timeoutMs`). */
  async logComplete(runId: string, timeoutMs = 30_000): Promise<void> {
    const { ended } = await this.logState(runId);
    const copying = this.incoming.get(runId);
    if (!copying || ended) return;
    const run = await this.deps.getRun(runId);
    if (run && isFinal(run.status)) await Promise.race([copying.done, sleep(timeoutMs)]);
  }

  /** The record says how long the log is: this node copies it, nothing writes it here. */
  withLiveLength(run: Run): Run {
    return run;
  }

  private sizeOf(runId: string): number {
    try {
      return statSync(this.logPath(runId)).size;
    } catch {
      return 0;
    }
  }

  /** Starts copying a run's stream, from what this node already has of it. */
  private copy(runId: string): Incoming {
    // Append-only: what an earlier copy left is a prefix of the log, so it resumes from its end.
    const fd = openSync(this.logPath(runId), 'a+', 0o640);
    let length: number;
    try {
      length = fstatSync(fd).size;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    const copying: Incoming = { length, ended: null, fd, done: Promise.resolve() };
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
    const key = streamKey(this.deps.prefix, runId);
    const reader = this.deps.redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    reader.on('error', () => undefined);
    /** When the run was first seen over with nothing more coming (null: not yet). */
    let quietSince: number | null = null;
    try {
      await ready(reader).catch(() => undefined);
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
          const over = await this.isOver(runId);
          quietSince = over ? (quietSince ?? Date.now()) : null;
          let end = over && (await this.endedWithoutMarker({ run: over, key, reader, quietMs: Date.now() - (quietSince ?? 0) }));
          // Its worker died before sending all it had written (cut from Redis when its run ended, then killed):
          // nobody will send the rest, so what the record counts and the copy lacks is said, as for a gone stream.
          if (over && end === 'for now' && copying.length < over.log_bytes && (await this.deps.writerGone(runId).catch(() => false))) end = 'gone';
          if (over && end === 'gone') await this.fillFromArchive(over, copying);
          if (end) return this.finish(runId, copying, end !== 'for now');
          continue;
        }
        quietSince = null;
        for (const [id, fields] of entries) {
          const { end, final } = parseId(id.toString());
          const times = fieldOf(fields, 't');
          if (times) copyTimes(this.logPath(runId), times.toString('latin1'), final);
          if (final) return this.finish(runId, copying, true);
          const from = Number(fieldOf(fields, 'o'));
          const data = fieldOf(fields, 'd');
          if (from > copying.length) {
            // Bytes that never reached Redis: said, not hidden, in exactly as many bytes, so offsets stay the log's.
            writeSync(copying.fd, gapFiller(from - copying.length));
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

  /** The run, when it is over. */
  private async isOver(runId: string): Promise<Run | null> {
    const run = await this.deps.getRun(runId).catch(() => undefined);
    return run && isFinal(run.status) ? run : null;
  }

  /**
   * Whether the stream of a run that is over has ended with no marker: for good when the stream is
   * gone (expired, or Redis lost it); for now when the run is `lost` and nothing comes (its worker
   * died, or, cut off from the database, may still send), or nothing came for `idleEndMs` since it
   * was seen over.
   */
  private async endedWithoutMarker({ run, key, reader, quietMs }: { run: Run; key: string; reader: Redis; quietMs: number }): Promise<'gone' | 'for now' | null> {
    if ((await reader.exists(key).catch(() => 1)) === 0) return 'gone';
    return run.status === 'lost' || quietMs > this.options.idleEndMs ? 'for now' : null;
  }

  /**
   * The stream is gone before this node copied all of the log (it expired after LOG_STREAM_TTL_S, or
   * Redis lost it): the rest comes from the run's copy in S3; what cannot, is said in as many bytes
   * (offsets stay the log's), never passed off as a log that ended early.
   */
  private async fillFromArchive(run: Run, copying: Incoming): Promise<void> {
    if (copying.length >= run.log_bytes) return;
    const { archivedLog, archivedLogTimes } = this.options;
    try {
      const body = run.archived_at && archivedLog ? await archivedLog(run.run_id, copying.length) : null;
      const times = run.archived_at && archivedLogTimes ? await archivedLogTimes(run.run_id) : null;
      if (times) copyTimes(this.logPath(run.run_id), times, true);
      for await (const piece of body ?? []) {
        const room = run.log_bytes - copying.length;
        if (room <= 0) break;
        const bytes = piece.subarray(0, room);
        writeSync(copying.fd, bytes);
        copying.length += bytes.length;
        this.feed.publish(run.run_id);
      }
    } catch (e) {
      this.options.onError(`reading the log of run ${run.run_id} from S3 failed`, e);
    }
    const missing = run.log_bytes - copying.length;
    if (missing > 0) {
      writeSync(copying.fd, gapFiller(missing, 'are not on this node: the worker that ran it keeps them (with S3 configured, every node serves them)'));
      copying.length += missing;
    }
  }

  /** The copy is over: whole for good, or (ended by silence alone) for a minute. */
  private async finish(runId: string, copying: Incoming, forGood: boolean): Promise<void> {
    copying.ended = (await this.deps.getRun(runId)) ?? null;
    this.complete.delete(runId);
    this.complete.set(runId, forGood ? Infinity : Date.now() + 60_000);
    if (this.complete.size > 10_000) this.complete.delete(this.complete.keys().next().value ?? '');
  }

  /** Stops copying (shutdown); copies resume on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.incoming.values()].map((c) => c.done));
  }
}

/**
 * `n` bytes that say why `n` bytes of output are not here: a line of its own, padded with spaces in
 * front; a shorter line where the reason does not fit (a gap of a line or two); a blank line only
 * where not even that fits (under about 40 bytes).
 */
export function gapFiller(n: number, why = 'were lost on the way from the worker'): Buffer {
  const filler = Buffer.alloc(n, 0x20);
  const note = [why, 'missing'].map((w) => Buffer.from(`\n[oss-runner: ${n} bytes of output ${w}]\n`)).find((b) => b.length <= n);
  if (note) note.copy(filler, n - note.length);
  else filler[n - 1] = 0x0a;
  return filler;
}

function fieldOf(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]?.toString() === name) return fields[i + 1];
  return undefined;
}
