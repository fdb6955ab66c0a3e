import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useRef, useState } from 'react';
import { isFinal, scheduleOf } from '../../../../shared/src/schemas/enums';
import type { Run } from '../../../../shared/src/schemas/run';
import { StatusBadge } from '../../components/StatusBadge';
import { argvText, bytes, duration, limitsText, when } from '../../components/format';
import { useModal } from '../../components/useModal';
import { useNow } from '../../components/useNow';
import { homePath, linkProps, navigate, runPath, schedulesPath } from '../../lib/router';
import { isUnauthorized, useTRPC } from '../../lib/trpc';
import { LogView } from './LogView';
import { SummarySection } from './Summary';
import { useRunLog } from './useRunLog';

/** Opens a run just started here; its page then takes the focus (the Run button that had it is gone). */
export function openNewRun(runId: string) {
  navigate(runPath(runId));
  history.replaceState({ focusHeading: true }, '');
}

/** The Stop confirmation: a modal dialog that Escape closes; focus goes back to Stop after it. */
function StopConfirmation({ pending, onStop, onCancel }: { pending: boolean; onStop: () => void; onCancel: () => void }) {
  const dialog = useModal<HTMLDivElement>(onCancel);
  return (
    <div className="overlay">
      <div ref={dialog} className="dialog card confirm" role="alertdialog" aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-text" tabIndex={-1}>
        <h3 id="confirm-title">Stop this run?</h3>
        <p id="confirm-text">Every process of the run gets SIGTERM, then SIGKILL if it is still there after the grace period.</p>
        <div className="actions">
          <button type="button" className="danger" autoFocus onClick={onStop} disabled={pending}>
            Stop the run
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}

/**
 * One run: a one-line header (status, duration, exit code, and Run again, Download and Stop), the
 * facts folded under Details, and the log filling the rest of the screen.
 */
export function RunPage({ runId, canStop, appName, reconnecting }: { runId: string; canStop: boolean; appName: string; reconnecting: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const getOptions = trpc.runs.get.queryOptions({ run_id: runId });
  const record = useQuery(getOptions);
  const log = useRunLog(runId);
  const [confirming, setConfirming] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useSubscription(
    trpc.runs.onChange.subscriptionOptions(undefined, {
      onData: (run: Run) => {
        if (run.run_id === runId) queryClient.setQueryData(getOptions.queryKey, { run });
      },
    }),
  );
  const run = log.ended ?? record.data?.run;
  const live = run ? !isFinal(run.status) : true;
  const now = useNow(live);
  const stop = useMutation(
    trpc.runs.stop.mutationOptions({
      onSuccess: (data) => queryClient.setQueryData(getOptions.queryKey, data),
      onSettled: () => setConfirming(false),
    }),
  );
  const logToken = useMutation(trpc.runs.logToken.mutationOptions());
  const again = useMutation(trpc.runs.start.mutationOptions({ onSuccess: ({ run: next }) => openNewRun(next.run_id) }));
  const loaded = run !== undefined;
  useEffect(() => {
    if (!loaded || !(history.state as { focusHeading?: boolean } | null)?.focusHeading) return;
    heading.current?.focus();
    history.replaceState(null, '');
  }, [loaded]);
  // Stopped: the Stop button is gone, and the focus it had (or the confirmation's) goes to the heading, not nowhere.
  useEffect(() => {
    if (!live && !stop.isIdle && document.activeElement === document.body) heading.current?.focus();
  }, [live, confirming, stop.isIdle]);
  useEffect(() => {
    document.title = `${run ? `${run.name} (${run.status})` : 'Run'} · ${appName}`;
  }, [run?.name, run?.status, appName]);

  /** Downloads one of the run's files (`log`, `artifacts/<name>`) through a short-lived token bound to this run. */
  const download = (file: string, filename: string) => {
    // The long-lived credential never goes into a URL. A refusal shows the sign-in (the query client's
    // error handler), any other failure beside the buttons: nothing is thrown.
    logToken.mutate(
      { run_id: runId },
      {
        onSuccess: ({ token }) => {
          const a = document.createElement('a');
          a.href = `/runs/${encodeURIComponent(runId)}/${file}?access_token=${encodeURIComponent(token)}`;
          a.download = filename;
          a.click();
        },
      },
    );
  };

  const notFound = record.error?.data?.code === 'NOT_FOUND';
  if (record.error || notFound) {
    return (
      <main id="main" tabIndex={-1}>
        <p>
          <a {...linkProps(homePath())}>← Runs</a>
        </p>
        <p role="alert" className="error">
          {notFound ? `There is no run ${runId}.` : `Could not load the run: ${record.error?.message}`}
        </p>
      </main>
    );
  }

  return (
    <main id="main" tabIndex={-1} className="run-page">
      <header className="run-head">
        <a {...linkProps(homePath())} className="back">
          ← Runs
        </a>
        <h2 ref={heading} tabIndex={-1}>
          {run?.name ?? '…'} {run && <StatusBadge status={run.status} />}
        </h2>
        {run && (
          <span className="muted run-brief">
            {duration(run, now) ?? 'not started'}
            {run.exit_code !== null && (
              <>
                {', exit '}
                <span data-testid="exit-code">{run.exit_code}</span>
              </>
            )}
            {run.signal && `, ${run.signal}`}
          </span>
        )}
        <div className="actions">
          {canStop && run && (
            <button type="button" onClick={() => again.mutate({ name: run.name, params: run.params })} disabled={again.isPending} title="Start this tool again with the same parameters">
              Run again
            </button>
          )}
          <button type="button" onClick={() => download('log', `${run?.name ?? 'run'}-${runId}.log`)} disabled={logToken.isPending}>
            Download log
          </button>
          {canStop && run && !isFinal(run.status) && (
            <button type="button" className="danger" onClick={() => setConfirming(true)} disabled={stop.isPending}>
              {stop.isPending ? 'Stopping…' : 'Stop'}
            </button>
          )}
        </div>
      </header>
      {logToken.error && !isUnauthorized(logToken.error) && (
        <p role="alert" className="error">
          Could not download: {logToken.error.message}
        </p>
      )}
      {again.error && !isUnauthorized(again.error) && (
        <p role="alert" className="error">
          Could not start it again: {again.error.message}
        </p>
      )}
      {run?.error && (
        <p role="alert" className="error">
          {run.error}
        </p>
      )}
      {confirming && <StopConfirmation pending={stop.isPending} onStop={() => stop.mutate({ run_id: runId })} onCancel={() => setConfirming(false)} />}
      {stop.error && <p role="alert" className="error">Could not stop: {stop.error.message}</p>}
      {run && run.artifacts.length > 0 && (
        <ul className="artifacts" aria-label="Artifacts">
          {run.artifacts.map((a) => (
            <li key={a.name}>
              <button type="button" className="link" onClick={() => download(`artifacts/${encodeURIComponent(a.name)}`, a.name)} title={`sha256 ${a.sha256}`}>
                {a.name}
              </button>{' '}
              <span className="muted">
                {bytes(a.size)}, {a.type}
              </span>
              {a.url && (
                <>
                  {' '}
                  <a href={a.url} rel="noreferrer">
                    (S3)
                  </a>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {run?.summary && <SummarySection summary={run.summary} />}
      {run && (
        <details className="run-details">
          <summary>Details</summary>
          <dl className="facts">
            <dt>Command</dt>
            <dd>
              <code>{argvText(run.cmd)}</code>
            </dd>
            <dt>Started by</dt>
            <dd>{scheduleOf(run.requested_by) ? <a {...linkProps(schedulesPath(scheduleOf(run.requested_by) ?? ''))}>{run.requested_by}</a> : (run.requested_by ?? '—')}</dd>
            <dt>Created</dt>
            <dd>{when(run.created_at)}</dd>
            <dt>Started</dt>
            <dd>{when(run.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{when(run.finished_at)}</dd>
            <dt>Duration</dt>
            <dd>{duration(run, now) ?? '—'}</dd>
            <dt>Exit code</dt>
            <dd>{run.exit_code ?? '—'}</dd>
            {run.signal && (
              <>
                <dt>Signal</dt>
                <dd>{run.signal}</dd>
              </>
            )}
            {run.end_reason && (
              <>
                <dt>Ended by</dt>
                <dd>
                  {run.end_reason}
                  {run.stopped_by ? ` (${run.stopped_by})` : ''}
                </dd>
              </>
            )}
            <dt>Log</dt>
            <dd>
              {live ? `${log.lines.count.toLocaleString('en')} lines so far` : bytes(run.log_bytes)}
              {run.log_truncated && ' (truncated: head and tail kept)'}
            </dd>
            {(run.peak_memory_bytes !== null || run.cpu_time_ms !== null) && (
              <>
                <dt>Used</dt>
                <dd>
                  {run.peak_memory_bytes !== null && `${bytes(run.peak_memory_bytes)} peak memory`}
                  {run.peak_memory_bytes !== null && run.cpu_time_ms !== null && ', '}
                  {run.cpu_time_ms !== null && `${(run.cpu_time_ms / 1000).toFixed(2)} s CPU`}
                </dd>
              </>
            )}
            {run.limits && (
              <>
                <dt>Limits</dt>
                <dd data-testid="limits">{limitsText(run.limits)}</dd>
              </>
            )}
          </dl>
        </details>
      )}
      {log.error && !reconnecting && (
        <p role="alert" className="error">
          The live log was interrupted: {log.error.message}
        </p>
      )}
      <LogView runId={runId} log={log} live={!log.ended} />
    </main>
  );
}
