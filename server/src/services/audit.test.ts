/**
 * The audit log's coalescing of refusals, on a real (in-memory) SQLite store, with the clock faked so
 * that each window's end is exact: a refusal is written at once, its repeats as one record when the
 * window its first began is over; each distinct refusal has a window of its own.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteAuditStore } from '../store/sqliteAuthStore';
import { openDatabase } from '../store/sqliteDb';
import { AuditLog, type AuditEntry } from './audit';

const WINDOW_MS = 60_000;

const refusal = (ip: string): AuditEntry => ({ actor: null, ip, action: 'auth', outcome: 'denied', detail: 'unknown API key' });

function setup() {
  const store = new SqliteAuditStore(openDatabase(':memory:'));
  const errors: unknown[] = [];
  const log = new AuditLog(store, (e) => errors.push(e), { retentionDays: 0, maxRows: 0, coalesceMs: WINDOW_MS, pruneIntervalMs: 3_600_000 });
  /** The records written, oldest first, as [ip, outcome, count]. */
  const written = async () => (await store.list({ limit: 500 })).items.reverse().map((r) => [r.ip, r.outcome, r.count]);
  return { log, written, errors };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('AuditLog', () => {
  it('writes a refusal at once and its repeats as one record when the window its first began is over', async () => {
    const { log, written, errors } = setup();
    log.record(refusal('10.0.0.1'));
    await vi.advanceTimersByTimeAsync(WINDOW_MS / 2);
    for (let i = 0; i < 4; i++) log.record(refusal('10.0.0.1'));
    expect(await written()).toEqual([['10.0.0.1', 'denied', 1]]);
    await vi.advanceTimersByTimeAsync(WINDOW_MS / 2 - 1);
    expect(await written()).toEqual([['10.0.0.1', 'denied', 1]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await written()).toEqual([
      ['10.0.0.1', 'denied', 1],
      ['10.0.0.1', 'denied', 4],
    ]);
    // The window is over: the next refusal begins a new one, written at once.
    log.record(refusal('10.0.0.1'));
    expect((await written()).at(-1)).toEqual(['10.0.0.1', 'denied', 1]);
    expect(errors).toEqual([]);
    await log.close();
  });

  it('gives each distinct refusal a window of its own: a burst is never split by another caller’s clock', async () => {
    const { log, written } = setup();
    log.record(refusal('10.0.0.1'));
    await vi.advanceTimersByTimeAsync(WINDOW_MS - 10);
    // Another caller's burst begins just before the first window ends, and goes on past it.
    for (let i = 0; i < 3; i++) log.record(refusal('10.0.0.2'));
    await vi.advanceTimersByTimeAsync(20);
    for (let i = 0; i < 3; i++) log.record(refusal('10.0.0.2'));
    expect(await written()).toEqual([
      ['10.0.0.1', 'denied', 1],
      ['10.0.0.2', 'denied', 1],
    ]);
    await vi.advanceTimersByTimeAsync(WINDOW_MS);
    expect(await written()).toEqual([
      ['10.0.0.1', 'denied', 1],
      ['10.0.0.2', 'denied', 1],
      ['10.0.0.2', 'denied', 5],
    ]);
    await log.close();
  });

  it('writes every success, and at close the repeats counted so far', async () => {
    const { log, written } = setup();
    log.record({ actor: 'key:1', ip: '10.0.0.3', action: 'runs.start', outcome: 'ok', run_id: 'r1' });
    log.record({ actor: 'key:1', ip: '10.0.0.3', action: 'runs.start', outcome: 'ok', run_id: 'r2' });
    log.record(refusal('10.0.0.4'));
    log.record(refusal('10.0.0.4'));
    await log.close();
    expect(await written()).toEqual([
      ['10.0.0.3', 'ok', 1],
      ['10.0.0.3', 'ok', 1],
      ['10.0.0.4', 'denied', 1],
      ['10.0.0.4', 'denied', 1],
    ]);
  });
});
