import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { RUN_STATUSES } from '../../../../shared/src/schemas/enums';
import type { Run, RunList as RunPage } from '../../../../shared/src/schemas/run';
import { StatusBadge } from '../../components/StatusBadge';
import { duration, when } from '../../components/format';
import { useNow } from '../../components/useNow';
import { homePath, linkProps, runPath } from '../../lib/router';
import { useTRPC } from '../../lib/trpc';
import { SummaryLine } from './Summary';

const PAGE = 20;

/** Runs, newest first, with filters and paging; status changes arrive by subscription. A phone leaves out the duration and who started it (the run's page has them). */
export function RunList({ search, tools }: { search: URLSearchParams; tools: string[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const status = RUN_STATUSES.find((s) => s === search.get('status'));
  const name = search.get('tool') ?? undefined;
  // A stack of cursors: the way back through the pages seen.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const input = { status, name, limit: PAGE, cursor };
  const listOptions = trpc.runs.list.queryOptions(input);
  const runs = useQuery(listOptions);

  useSubscription(
    trpc.runs.onChange.subscriptionOptions(undefined, {
      onData: (run: Run) => {
        queryClient.setQueryData(listOptions.queryKey, (page: RunPage | undefined) => {
          if (!page) return page;
          const i = page.items.findIndex((r) => r.run_id === run.run_id);
          const matches = (!status || run.status === status) && (!name || run.name === name);
          if (i >= 0 && !matches) return { ...page, items: page.items.filter((r) => r.run_id !== run.run_id) };
          if (i >= 0) return { ...page, items: page.items.map((r) => (r.run_id === run.run_id ? run : r)) };
          if (!cursor && matches) return { ...page, items: [run, ...page.items].slice(0, PAGE) };
          return page;
        });
      },
      // After a reconnection, whatever changed meanwhile is fetched again.
      onStarted: () => void queryClient.invalidateQueries({ queryKey: trpc.runs.list.queryKey() }),
    }),
  );

  const now = useNow(runs.data?.items.some((r) => r.status === 'running') ?? false);
  const setFilter = (key: 'status' | 'tool', value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    setCursors([]);
    history.replaceState(null, '', homePath(next));
    dispatchEvent(new PopStateEvent('popstate'));
  };

  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <div className="filters">
        <label>
          Status{' '}
          <select value={status ?? ''} onChange={(e) => setFilter('status', e.target.value)}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tool{' '}
          <select value={name ?? ''} onChange={(e) => setFilter('tool', e.target.value)}>
            <option value="">any</option>
            {tools.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      {runs.error && <p role="alert" className="error">Could not load the runs: {runs.error.message}</p>}
      {runs.data?.items.length === 0 && <p className="muted">{status || name ? 'No run matches these filters.' : 'No run yet: start one from the tools below.'}</p>}
      {runs.data && runs.data.items.length > 0 && (
        <div className="table-wrap">
          <table className="runs">
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Status</th>
                <th scope="col">Started</th>
                <th scope="col" className="wide-only">
                  Duration
                </th>
                <th scope="col" className="wide-only">
                  By
                </th>
                <th scope="col">Found</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.items.map((run) => (
                <tr key={run.run_id} data-run-id={run.run_id}>
                  <td>
                    <a {...linkProps(runPath(run.run_id))}>{run.name}</a>
                  </td>
                  <td>
                    <StatusBadge status={run.status} />
                  </td>
                  <td>{when(run.started_at ?? run.created_at)}</td>
                  <td className="wide-only">{duration(run, now) ?? '—'}</td>
                  <td className="wide-only muted">{run.requested_by ?? '—'}</td>
                  <td>{run.summary ? <SummaryLine summary={run.summary} /> : <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages of runs">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!runs.data?.next_cursor} onClick={() => runs.data?.next_cursor && setCursors([...cursors, runs.data.next_cursor])}>
          Older
        </button>
      </nav>
    </section>
  );
}
