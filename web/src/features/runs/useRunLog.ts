import { useMutation, useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import { isFinal } from '../../../../shared/src/schemas/enums';
import type { Run } from '../../../../shared/src/schemas/run';
import { useTRPC, useTRPCClient } from '../../lib/trpc';
import { JoinedLines, StringLines, type LogLines } from './logLines';
import { readWritten } from './logFollow';
import { readLog, readLogEnd, type LogProgress } from './logRanges';

/** The least time between two drawings of a live log's new lines (a frame at most while output trickles). */
const RENDER_MS = 100;

/** How the log is read, chosen once from the run's first known state. */
type Source = 'live' | 'ranges';

export interface RunLog {
  lines: LogLines;
  /** Changes whenever lines arrive (at most every RENDER_MS). */
  version: number;
  /** The final run, once the log is complete. */
  ended: Run | null;
  /** A finished log's bytes read so far, while it loads. */
  progress: LogProgress | null;
  /** Why the log could not be read (a finished run's), or why the live log was interrupted. */
  error: { message: string } | null;
}

/**
 * `ask`, called once as soon as the component mounts (or `ask` changes; aborted on unmount); its
 * answer goes to the first caller, and later callers (or any after a failure) ask again.
 */
function useEarly<T>(ask: (signal: AbortSignal) => Promise<T>): (signal?: AbortSignal) => Promise<T> {
  const first = useRef<Promise<T | null> | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    first.current = ask(abort.signal).catch(() => null);
    return () => abort.abort();
  }, [ask]);
  return useCallback(
    async (signal: AbortSignal = new AbortController().signal) => {
      const early = first.current;
      first.current = null;
      return (early && (await early)) ?? ask(signal);
    },
    [ask],
  );
}

/** The run's log token, asked for once and shared by every read; asked again when `renew` says the one held expired. */
function useLogToken(ask: () => Promise<string>): (renew?: boolean) => Promise<string> {
  const held = useRef<Promise<string> | null>(null);
  return useCallback(
    (renew = false) => {
      if (renew || !held.current) {
        const asking = ask();
        held.current = asking;
        // A failed ask is not held: the next read asks again.
        asking.catch(() => {
          if (held.current === asking) held.current = null;
        });
      }
      return held.current;
    },
    [ask],
  );
}

/**
 * A run's log, opened at its end: the last bytes read by a byte range, numbered by the server's count
 * of lines, the rest read by byte ranges after them. A running run's is caught up by byte reads, then
 * comes live over the tRPC WebSocket, lines accumulating in one store (drawn at most every RENDER_MS);
 * after a network drop or a server restart the client resubscribes from the last event id it saw, so
 * nothing is missed and nothing comes twice.
 */
export function useRunLog(runId: string): RunLog {
  const trpc = useTRPC();
  const record = useQuery(trpc.runs.get.queryOptions({ run_id: runId }));
  const [source, setSource] = useState<Source | null>(null);
  const known = record.data?.run;
  useEffect(() => {
    if (known && source === null) setSource(isFinal(known.status) ? 'ranges' : 'live');
  }, [known, source]);

  const live = useRef(new StringLines());
  const [shown, setShown] = useState<{ lines: LogLines; progress: LogProgress | null }>({ lines: live.current, progress: null });
  const [version, setVersion] = useState(0);
  const [ended, setEnded] = useState<Run | null>(null);
  const [failure, setFailure] = useState<Error | null>(null);
  /** The render pending for lines that arrived: a timer, then the next frame. */
  const pending = useRef<{ timer: ReturnType<typeof setTimeout> | null; frame: number | null } | null>(null);
  const lastRender = useRef(0);
  /** Where the live stream starts: after what a running log had written by its last look (read by bytes, logFollow.ts). */
  const [liveFrom, setLiveFrom] = useState<number | null>(null);
  /** Where the next live event's bytes begin in the log. */
  const liveAt = useRef<number | null>(null);

  const subscription = useSubscription(
    trpc.runs.logs.subscriptionOptions(
      { run_id: runId, lastEventId: liveFrom ? String(liveFrom) : undefined },
      {
        enabled: source === 'live' && liveFrom !== null,
        onData: ({ id, data }) => {
          if (data.type === 'lines') {
            // An event's id is where its bytes end: the previous one's, where they begin.
            live.current.push(data.lines, liveAt.current ?? undefined);
            liveAt.current = Number(id);
            if (!pending.current) {
              // A flood of output is drawn every RENDER_MS, not every frame: each drawing lays the view out again.
              const due = pending.current = { timer: null as ReturnType<typeof setTimeout> | null, frame: null as number | null };
              due.timer = setTimeout(() => {
                due.timer = null;
                due.frame = requestAnimationFrame(() => {
                  pending.current = null;
                  lastRender.current = performance.now();
                  setVersion((v) => v + 1);
                });
              }, Math.max(0, lastRender.current + RENDER_MS - performance.now()));
            }
          } else setEnded(data.run);
        },
      },
    ),
  );

  const { mutateAsync } = useMutation(trpc.runs.logToken.mutationOptions());
  const client = useTRPCClient();
  const path = `/runs/${encodeURIComponent(runId)}/log`;
  const token = useLogToken(useCallback(async () => (await mutateAsync({ run_id: runId })).token, [mutateAsync, runId]));
  // As the page opens, beside the run's record: its token, then the log's end (every log is read by
  // bytes, from its end, whether it runs or not), and the count of lines that numbers that end.
  const end = useEarly(useCallback((signal: AbortSignal) => readLogEnd({ path, token, signal }), [path, token]));
  const mark = useEarly(useCallback(() => client.runs.logLines.query({ run_id: runId }), [client, runId]));

  // A finished log by byte ranges (its end first); a running one by looks at its end while it grows
  // fast (logFollow.ts), then live from where the last look ended, the lines before the end it read
  // meanwhile by byte ranges. Read once per run: the record's later updates change neither.
  useEffect(() => {
    if (!source || !known) return;
    const abort = new AbortController();
    const show = (lines: LogLines, progress: LogProgress | null) => {
      setShown({ lines, progress });
      setVersion((v) => v + 1);
    };
    const options = { path, token, signal: abort.signal, end };
    const reading =
      source === 'live'
        ? readWritten({ ...options, mark, show: (lines) => show(new JoinedLines(lines, live.current), null) }).then(async ({ lines, next, head }) => {
            show(new JoinedLines(lines, live.current), null);
            liveAt.current = next;
            setLiveFrom(next);
            // The lines before the end it read, while the live stream goes on; numbered as they were.
            if (head) show(new JoinedLines(await head(), live.current), null);
          })
        : readLog({ ...options, mark, show }).then(() => setEnded(known));
    reading.catch((e: unknown) => {
      if (!abort.signal.aborted) setFailure(e instanceof Error ? e : new Error(String(e)));
    });
    return () => abort.abort();
  }, [source, path, token, mark, end]);

  useEffect(
    () => () => {
      const due = pending.current;
      if (due?.timer) clearTimeout(due.timer);
      if (due?.frame) cancelAnimationFrame(due.frame);
    },
    [],
  );

  return {
    lines: shown.lines,
    version,
    ended: source === 'ranges' ? (ended ?? known ?? null) : ended,
    // Until a finished log is read through (or before it is known how to read it), line links wait.
    progress: source === 'live' || ended || failure ? null : (shown.progress ?? { loaded: 0, total: 0 }),
    error: failure ?? subscription.error,
  };
}
