import { useSubscription } from '@trpc/tanstack-react-query';
import { useRef, useState } from 'react';
import type { Run } from '../../../../shared/src/schemas/run';
import { useTRPC } from '../../lib/trpc';

/**
 * A run's log, live, over the tRPC WebSocket. Lines accumulate in one array (re-rendering at most
 * once a frame); after a network drop or a server restart the client resubscribes from the last
 * event id it saw, so nothing is missed and nothing comes twice.
 */
export function useRunLog(runId: string) {
  const trpc = useTRPC();
  const lines = useRef<string[]>([]);
  const [version, setVersion] = useState(0);
  const [ended, setEnded] = useState<Run | null>(null);
  const frame = useRef<number | null>(null);

  const subscription = useSubscription(
    trpc.runs.logs.subscriptionOptions(
      { run_id: runId },
      {
        onData: ({ data }) => {
          if (data.type === 'lines') {
            const target = lines.current;
            for (const line of data.lines) target.push(line);
            frame.current ??= requestAnimationFrame(() => {
              frame.current = null;
              setVersion((v) => v + 1);
            });
          } else setEnded(data.run);
        },
      },
    ),
  );
  return { lines: lines.current, version, ended, status: subscription.status, error: subscription.error };
}
