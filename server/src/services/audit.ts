/**
 * The audit log: every start, stop, key change and refused attempt. No secrets.
 *
 * A refusal repeated by the same caller (same actor, address, action and reason) within a minute is
 * not written again: the first is written at once, the repeats as one record with their count when
 * the minute is over. A flood of refused requests so costs two records a minute per distinct
 * refusal, and distinct refusals beyond a bound are counted together. Records older than
 * AUDIT_RETENTION_DAYS, and all but the newest AUDIT_MAX_ROWS, are pruned.
 */
import type { AuditList, AuditListInput, AuditRecord } from '../../../shared/src/schemas/auth';
import { AuditListInput as AuditListSchema } from '../../../shared/src/schemas/auth';
import { badRequest } from '../errors';
import type { AuditStore } from '../store/authStore';
import { InvalidCursorError } from '../store/cursor';

export type AuditEntry = Omit<AuditRecord, 'id' | 'at' | 'detail' | 'run_id' | 'ip' | 'count'> & { detail?: string | null; run_id?: string | null; ip?: string | null };

export interface AuditOptions {
  /** Records older than this many days are deleted (0: kept forever). */
  retentionDays: number;
  /** At most this many records are kept, the newest (0: no bound). */
  maxRows: number;
  /** Repeats of one refusal within this window are one record. */
  coalesceMs: number;
  /** How often old records are pruned. */
  pruneIntervalMs: number;
}

/** Distinct refusals counted at once; past it they are counted together, as one record. */
const DISTINCT_REFUSALS = 1000;

interface Repeats {
  entry: AuditEntry;
  count: number;
  lastAt: string;
}

export class AuditLog {
  /** Refusals written lately, by who/where/what/why, with the repeats seen since. */
  private readonly repeats = new Map<string, Repeats>();
  private overflow: Repeats | null = null;
  private readonly flusher: NodeJS.Timeout;
  private readonly pruner: NodeJS.Timeout;

  constructor(
    private readonly store: AuditStore,
    private readonly onError: (e: unknown) => void,
    private readonly options: AuditOptions,
  ) {
    this.flusher = setInterval(() => void this.flush(), options.coalesceMs).unref();
    // Pruned now, at start-up, and then every interval.
    const prune = () => void this.prune().catch(this.onError);
    prune();
    this.pruner = setInterval(prune, options.pruneIntervalMs).unref();
  }

  /** Records an entry; a failure to record is reported, never thrown at the caller. */
  record(entry: AuditEntry): void {
    if (entry.outcome !== 'denied') return void this.write(entry, 1);
    const key = JSON.stringify([entry.actor, entry.ip ?? null, entry.action, entry.run_id ?? null, entry.detail ?? null]);
    const seen = this.repeats.get(key);
    const at = new Date().toISOString();
    if (seen) {
      seen.count++;
      seen.lastAt = at;
    } else if (this.repeats.size < DISTINCT_REFUSALS) {
      this.repeats.set(key, { entry, count: 0, lastAt: at });
      void this.write(entry, 1);
    } else {
      this.overflow ??= { entry: { actor: null, ip: null, action: 'audit', outcome: 'denied', detail: `more distinct refusals than ${DISTINCT_REFUSALS} a window, not itemised` }, count: 0, lastAt: at };
      this.overflow.count++;
      this.overflow.lastAt = at;
    }
  }

  /** Writes the repeats counted so far, each as one record, and forgets them. */
  async flush(): Promise<void> {
    const counted = [...this.repeats.values(), ...(this.overflow ? [this.overflow] : [])].filter(({ count }) => count > 0);
    this.repeats.clear();
    this.overflow = null;
    await Promise.all(counted.map(({ entry, count, lastAt }) => this.write(entry, count, lastAt)));
  }

  /** Deletes what AUDIT_RETENTION_DAYS and AUDIT_MAX_ROWS say may go; answers how many records went. */
  prune(): Promise<number> {
    const { retentionDays, maxRows } = this.options;
    const before = retentionDays > 0 ? new Date(Date.now() - retentionDays * 86_400_000).toISOString() : null;
    return this.store.prune(before, maxRows > 0 ? maxRows : null);
  }

  /** At shutdown: the timers stop, and the repeats counted so far are written. */
  async close(): Promise<void> {
    clearInterval(this.flusher);
    clearInterval(this.pruner);
    await this.flush();
  }

  async list(input: AuditListInput): Promise<AuditList> {
    try {
      return await this.store.list(AuditListSchema.parse(input));
    } catch (e) {
      if (e instanceof InvalidCursorError) throw badRequest(`cursor: ${e.message}`);
      throw e;
    }
  }

  /** Appends one record; a failure is reported, never thrown. */
  private write(entry: AuditEntry, count: number, at = new Date().toISOString()): Promise<void> {
    // Promise.try: a store that throws at once (SQLite on a full disk) must not fail the request audited.
    return Promise.try(() => this.store.append({ at, detail: null, run_id: null, ip: null, ...entry, count })).catch(this.onError);
  }
}
