// Schedules: the list with each one's next fire times and last result, and (for those who may manage
// them) a form to create one, and pause, resume and delete.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type SyntheticEvent } from 'react';
import { hasRole, type Role } from '../../../../shared/src/schemas/enums';
import type { Schedule } from '../../../../shared/src/schemas/schedule';
import { when } from '../../components/format';
import { linkProps, runPath } from '../../lib/router';
import { useTRPC } from '../../lib/trpc';

/** The server's 400, by field (`cron`, `timezone`, `name`, `params...`). */
function issuesOf(error: unknown): Record<string, string> {
  const issues = (error as { data?: { issues?: { path: string; message: string }[] } } | null)?.data?.issues ?? [];
  const byField: Record<string, string> = {};
  for (const { path, message } of issues) byField[path.startsWith('params') ? 'params' : path] ??= `${path}: ${message}`;
  return byField;
}

export function SchedulesPage({ role }: { role: Role | null }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Results and next times move as schedules fire (on any node of a fleet): looked at again every few seconds.
  const schedules = useQuery(trpc.schedules.list.queryOptions(undefined, { refetchInterval: 3000 }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.schedules.list.queryKey() });
  const pause = useMutation(trpc.schedules.pause.mutationOptions({ onSuccess: refresh }));
  const resume = useMutation(trpc.schedules.resume.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.schedules.delete.mutationOptions({ onSuccess: refresh }));
  const failed = pause.error ?? resume.error ?? remove.error;
  const canManage = hasRole(role, schedules.data?.manage_role ?? 'admin');
  const selected = location.hash.replace(/^#schedule-/, '');

  return (
    <main id="main" tabIndex={-1}>
      <section aria-labelledby="schedules-title">
        <h2 id="schedules-title">Schedules</h2>
        {schedules.error && <p role="alert" className="error">Could not load the schedules: {schedules.error.message}</p>}
        {failed && <p role="alert" className="error">{failed.message}</p>}
        {schedules.data?.items.length === 0 && <p className="muted">No schedule yet.</p>}
        {schedules.data && schedules.data.items.length > 0 && (
          <div className="table-wrap">
            <table className="runs schedules">
              <thead>
                <tr>
                  <th scope="col">Tool</th>
                  <th scope="col">When</th>
                  <th scope="col">Next</th>
                  <th scope="col">Last</th>
                  {canManage && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {schedules.data.items.map((s) => (
                  <tr key={s.schedule_id} id={`schedule-${s.schedule_id}`} data-schedule-id={s.schedule_id} aria-current={s.schedule_id === selected ? 'true' : undefined}>
                    <td>
                      {s.name}
                      {Object.keys(s.params).length > 0 && <code className="cmd">{JSON.stringify(s.params)}</code>}
                    </td>
                    <td>
                      <code>{s.cron}</code> <span className="muted">{s.timezone}</span>
                      <div className="hint">overlap: {s.overlap}</div>
                    </td>
                    <td title={s.next_fire_times.map((t) => when(t)).join('\n')}>{s.paused ? <span className="muted">paused</span> : when(s.next_fire_times[0] ?? null)}</td>
                    <td>
                      <LastResult schedule={s} />
                    </td>
                    {canManage && (
                      <td>
                        <div className="actions">
                          {s.paused ? (
                            <button type="button" aria-label={`Resume the schedule of ${s.name}`} onClick={() => resume.mutate({ schedule_id: s.schedule_id })}>
                              Resume
                            </button>
                          ) : (
                            <button type="button" aria-label={`Pause the schedule of ${s.name}`} onClick={() => pause.mutate({ schedule_id: s.schedule_id })}>
                              Pause
                            </button>
                          )}
                          <button type="button" className="danger" aria-label={`Delete the schedule of ${s.name}`} onClick={() => remove.mutate({ schedule_id: s.schedule_id })}>
                            Delete
                          </button>
                        </div>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {canManage && <NewSchedule onCreated={refresh} />}
    </main>
  );
}

function LastResult({ schedule: s }: { schedule: Schedule }) {
  if (!s.last_result) return <span className="muted">—</span>;
  return (
    <>
      {s.last_result} <span className="muted">{when(s.last_fired_at)}</span>
      {s.last_result === 'started' && s.last_run_id && (
        <>
          {' '}
          <a {...linkProps(runPath(s.last_run_id))}>run</a>
        </>
      )}
      {s.last_error && <div className="hint">{s.last_error}</div>}
    </>
  );
}

function NewSchedule({ onCreated }: { onCreated: () => Promise<void> }) {
  const trpc = useTRPC();
  const catalog = useQuery(trpc.catalog.list.queryOptions());
  const [name, setName] = useState('');
  const [params, setParams] = useState('{}');
  const [cron, setCron] = useState('0 3 * * *');
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [overlap, setOverlap] = useState<'skip' | 'queue'>('skip');
  const [badJson, setBadJson] = useState<string | null>(null);
  const preview = useQuery(trpc.schedules.preview.queryOptions({ cron, timezone }, { enabled: cron.trim() !== '' && timezone.trim() !== '', retry: false }));
  const create = useMutation(
    trpc.schedules.create.mutationOptions({
      onSuccess: async () => {
        setParams('{}');
        await onCreated();
      },
    }),
  );
  const errors = issuesOf(create.error);
  const tool = name || catalog.data?.items[0]?.name || '';

  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(params || '{}');
    } catch (err) {
      setBadJson(`not JSON: ${(err as Error).message}`);
      return;
    }
    setBadJson(null);
    create.mutate({ name: tool, params: parsed, cron, timezone, overlap });
  };

  return (
    <section aria-labelledby="new-schedule-title" className="card new-schedule">
      <h2 id="new-schedule-title">New schedule</h2>
      <form className="schedule-form" onSubmit={submit}>
        <label>
          Tool{' '}
          <select value={tool} onChange={(e) => setName(e.target.value)}>
            {catalog.data?.items.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
          {errors.name && <small className="error">{errors.name}</small>}
        </label>
        <label>
          Parameters (JSON){' '}
          <textarea rows={2} value={params} onChange={(e) => setParams(e.target.value)} aria-invalid={Boolean(badJson ?? errors.params)} />
          {(badJson ?? errors.params) && <small className="error">{badJson ?? errors.params}</small>}
        </label>
        <label>
          Cron expression{' '}
          <input value={cron} onChange={(e) => (setCron(e.target.value), create.reset())} aria-invalid={Boolean(errors.cron)} aria-describedby="cron-help" />
          <small id="cron-help" className="hint">
            minute hour day-of-month month day-of-week, or six fields with seconds first
          </small>
          {errors.cron && <small className="error">{errors.cron}</small>}
        </label>
        <label>
          Time zone <input value={timezone} onChange={(e) => (setTimezone(e.target.value), create.reset())} aria-invalid={Boolean(errors.timezone)} />
          {errors.timezone && <small className="error">{errors.timezone}</small>}
        </label>
        <label>
          While the previous run goes on{' '}
          <select value={overlap} onChange={(e) => setOverlap(e.target.value === 'queue' ? 'queue' : 'skip')}>
            <option value="skip">skip the occurrence</option>
            <option value="queue">queue it</option>
          </select>
        </label>
        <div aria-live="polite" className="hint">
          {preview.error ? !(errors.cron ?? errors.timezone) && <span className="error">{preview.error.message}</span> : preview.data && <>Next: {preview.data.next_fire_times.map((t) => when(t)).join(' · ')}</>}
        </div>
        {create.error && Object.keys(errors).length === 0 && (
          <p role="alert" className="error">
            Could not create: {create.error.message}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={create.isPending || !tool}>
            Create schedule
          </button>
        </div>
      </form>
    </section>
  );
}
