/**
 * When each line of a run's log arrived, from the server's side index (GET /runs/{run_id}/log-times):
 * read once for a finished run, and what is new every few seconds while it runs. A line's time is that
 * of the last entry at or before its first byte.
 */
import { useEffect, useState } from 'react';
import { useTRPCClient } from '../../lib/trpc';
import { lastAtOrBelow } from './logLines';

/** How often a running run's index is asked for what is new. */
const POLL_MS = 2000;

export interface ArrivalIndex {
  /** Milliseconds after the run started at which the log's byte `offset` arrived; null when unknown. */
  elapsedAt(offset: number): number | null;
}

class Index implements ArrivalIndex {
  constructor(
    private readonly offsets: readonly number[],
    private readonly elapsed: readonly number[],
    /** The log's bytes the index covers: past them, an entry may be on its way. */
    private readonly covered: number,
  ) {}

  elapsedAt(offset: number): number | null {
    if (offset >= this.covered) return null;
    const i = lastAtOrBelow(this.offsets, this.offsets.length, offset);
    return i < 0 ? null : (this.elapsed[i] ?? null);
  }
}

/** The run's arrival index while `on` (null until it is read, or when it could not be). */
export function useArrivalTimes(runId: string, on: boolean, live: boolean): ArrivalIndex | null {
  const client = useTRPCClient();
  const [index, setIndex] = useState<ArrivalIndex | null>(null);
  useEffect(() => {
    if (!on) return;
    const offsets: number[] = [];
    const elapsed: number[] = [];
    let from = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abort = new AbortController();
    const load = async () => {
      try {
        const got = await client.runs.logTimes.query({ run_id: runId, from }, { signal: abort.signal });
        // The first entry is the one in force at `from`: known already, after the first read.
        got.offsets.forEach((offset, i) => {
          if (offsets.length === 0 || offset > (offsets[offsets.length - 1] ?? 0)) {
            offsets.push(offset);
            elapsed.push(got.elapsed_ms[i] ?? 0);
          }
        });
        from = got.log_bytes;
        setIndex(new Index(offsets.slice(), elapsed.slice(), from));
      } catch {
        // Times are an aid: without them the log reads as before (a refused credential is handled by the session).
      }
      if (live && !abort.signal.aborted) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [client, runId, on, live]);
  return on ? index : null;
}

/** Elapsed time as a log shows it: `0:02.3`, `12:05.0`, `1:02:03.4`. */
export function formatElapsed(ms: number): string {
  const tenths = Math.floor(ms / 100);
  const s = Math.floor(tenths / 10);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const ss = `${String(sec).padStart(2, '0')}.${tenths % 10}`;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
