/**
 * The audit log: every start, stop, key change and refused attempt. No secrets.
 *
 * A refusal repeated by the same caller (same actor, address, action and reason) within a minute is
 * not written again: the first is written at once, the repeats as one record with their count when
 * the minute that the first began is over (each refusal's own window: one clock for all would split a
 * burst that straddles its tick, and make the window anything from nothing to a minute). A flood of
 * refused requests so costs two records a minute per distinct refusal, and distinct refusals beyond a
 * bound are counted together. Records older than AUDIT_RETENTION_DAYS, and all but the newest
 * AUDIT_MAX_ROWS, are pruned.
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
/** The key of the refusals past DISTINCT_REFUSALS (a refusal's own key is a JSON array). */
const OVERFLOW = 'overflow';

interface Repeats {
  entry: AuditEntry;
  count: number;
  lastAt: string;
  /** Ends the window that the first refusal began. */
  timer: NodeJS.Timeout;
}

export class AuditLog {
  /** Refusals written lately, by who/where/what/why, with the repeats seen since. */
  private readonly repeats = new Map<string, Repeats>();
  private readonly pruner: NodeJS.Timeout;

  constructor(
    private readonly store: AuditStore,
    private readonly onError: (e: unknown) => void,
    private readonly options: AuditOptions,
  ) {
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
      this.open(key, entry, at);
      void this.write(entry, 1);
    } else {
      const overflow = this.repeats.get(OVERFLOW) ?? this.open(OVERFLOW, { actor: null, ip: null, action: 'audit', outcome: 'denied', detail: `more distinct refusals than ${DISTINCT_REFUSALS} a window, not itemised` }, at);
      overflow.count++;
      overflow.lastAt = at;
    }
  }

  /** Writes the repeats counted so far, each as one record, and forgets them. */
  async flush(): Promise<void> {
    await Promise.all([...this.repeats.keys()].map((key) => this.end(key)));
  }

  /** Deletes what AUDIT_RETENTION_DAYS and AUDIT_MAX_ROWS say may go; answers how many records went. */
  prune(): Promise<number> {
    const { retentionDays, maxRows } = this.options;
    const before = retentionDays > 0 ? new Date(Date.now() - retentionDays * 86_400_000).toISOString() : null;
    return this.store.prune(before, maxRows > 0 ? maxRows : null);
  }

  /** At shutdown: the timers stop, and the repeats counted so far are written. */
  async close(): Promise<void> {
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

  /** Begins the window of refusal `key`, which ends coalesceMs from now. */
  private open(key: string, entry: AuditEntry, at: string): Repeats {
    const window = { entry, count: 0, lastAt: at, timer: setTimeout(() => void this.end(key), this.options.coalesceMs).unref() };
    this.repeats.set(key, window);
    return window;
  }

  /** Ends the window of refusal `key`: its repeats, if any, are written as one record. */
  private end(key: string): Promise<void> {
    const window = this.repeats.get(key);
    if (!window) return Promise.resolve();
    clearTimeout(window.timer);
    this.repeats.delete(key);
    return window.count > 0 ? this.write(window.entry, window.count, window.lastAt) : Promise.resolve();
  }

  /** Appends one record; a failure is reported, never thrown. */
  private write(entry: AuditEntry, count: number, at = new Date().toISOString()): Promise<void> {
    // Promise.try: a store that throws at once (SQLite on a full disk) must not fail the request audited.
    return Promise.try(() => this.store.append({ at, detail: null, run_id: null, ip: null, ...entry, count })).catch(this.onError);
  }
}
