import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { RunStatus, Outcome } from '../../../../shared/src/schemas/run';
import { Severity } from '../../../../shared/src/schemas/summary';
import type { WebhookEndpoint, WebhookFormat } from '../../../../shared/src/schemas/webhook';
import { useTRPC } from '../../lib/trpc';
import { Deliveries } from './Deliveries';

/** "a, b" from a list; "any" when it is empty. */
const listText = (items: readonly string[]) => (items.length ? items.join(', ') : 'any');

/** Webhook endpoints (admin): subscribe one (its secret shown once), pause, delete, see its deliveries. */
export function WebhooksPage({ tools }: { tools: string[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const endpoints = useQuery(trpc.webhooks.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.webhooks.list.queryKey() });
  const [secret, setSecret] = useState<{ id: string; secret: string } | null>(null);
  const update = useMutation(trpc.webhooks.update.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.webhooks.remove.mutationOptions({ onSuccess: refresh }));
  const [open, setOpen] = useState<string | null>(null);

  return (
    <main id="main" tabIndex={-1}>
      <h2>Webhooks</h2>
      <p className="muted">
        Each run that ends and matches an endpoint&apos;s filter is POSTed to it, signed with its secret: the project&apos;s docs/notifications.md tells what the body holds and how to verify it; the
        paths are in the <a href="/docs">API documentation</a>.
      </p>
      <NewWebhook tools={tools} onCreated={(id, s) => (setSecret({ id, secret: s }), void refresh())} />
      {secret && (
        <div className="card" role="status">
          <p>
            The signing secret of <code>{secret.id}</code>, shown this once: give it to the receiver now.
          </p>
          <code className="cmd">{secret.secret}</code>
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      {endpoints.error && <p role="alert" className="error">Could not load the webhooks: {endpoints.error.message}</p>}
      {(update.error ?? remove.error) && <p role="alert" className="error">{(update.error ?? remove.error)?.message}</p>}
      {endpoints.data?.items.length === 0 && <p className="muted">No endpoint yet.</p>}
      <ul className="webhooks">
        {endpoints.data?.items.map((e: WebhookEndpoint) => (
          <li key={e.id} className="card">
            <h3>{e.description || e.url}</h3>
            <p>
              <code>{e.url}</code> · {e.format === 'slack' ? 'Slack message' : 'JSON'} · {e.enabled ? 'enabled' : 'paused'}
            </p>
            <p className="muted">
              tools: {listText(e.filter.tools)}; statuses: {listText(e.filter.statuses)}; outcomes: {listText(e.filter.outcomes)}
              {e.filter.new_findings_min_severity && `; new findings at ${e.filter.new_findings_min_severity} or above`}
            </p>
            <div className="actions">
              <button type="button" onClick={() => update.mutate({ id: e.id, enabled: !e.enabled })}>
                {e.enabled ? 'Pause' : 'Resume'}
              </button>
              <button type="button" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                Deliveries
              </button>
              <button type="button" className="danger" onClick={() => window.confirm(`Delete the webhook ${e.url} and its deliveries?`) && remove.mutate({ id: e.id })}>
                Delete
              </button>
            </div>
            {open === e.id && <Deliveries endpointId={e.id} />}
          </li>
        ))}
      </ul>
    </main>
  );
}

/** The checked values of a group of checkboxes named `name`. */
const checked = (form: FormData, name: string) => form.getAll(name).flatMap((v) => (typeof v === 'string' ? [v] : []));
/** A text field's value. */
const text = (form: FormData, name: string) => {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
};

function NewWebhook({ tools, onCreated }: { tools: string[]; onCreated: (id: string, secret: string) => void }) {
  const trpc = useTRPC();
  const create = useMutation(trpc.webhooks.create.mutationOptions({ onSuccess: ({ endpoint, secret }) => onCreated(endpoint.id, secret) }));
  const choices = (legend: string, name: string, values: readonly string[]) => (
    <fieldset>
      <legend>{legend}</legend>
      {values.map((v) => (
        <label key={v}>
          <input type="checkbox" name={name} value={v} /> {v}
        </label>
      ))}
    </fieldset>
  );
  return (
    <details className="card">
      <summary>Subscribe an endpoint</summary>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const form = new FormData(event.currentTarget);
          const severity = Severity.safeParse(form.get('severity')).data ?? null;
          create.mutate({
            url: text(form, 'url'),
            description: text(form, 'description'),
            format: (form.get('format') === 'slack' ? 'slack' : 'json') satisfies WebhookFormat,
            filter: {
              tools: checked(form, 'tools'),
              statuses: checked(form, 'statuses').flatMap((s) => RunStatus.safeParse(s).data ?? []),
              outcomes: checked(form, 'outcomes').flatMap((o) => Outcome.safeParse(o).data ?? []),
              new_findings_min_severity: severity,
            },
          });
        }}
      >
        <label>
          URL <input name="url" type="url" required placeholder="https://hooks.example.com/oss-runner" />
        </label>
        <label>
          Description <input name="description" maxLength={200} />
        </label>
        <label>
          Body{' '}
          <select name="format" defaultValue="json">
            <option value="json">JSON (run, summary, links)</option>
            <option value="slack">Slack-compatible message</option>
          </select>
        </label>
        {choices('Tools (none: any)', 'tools', tools)}
        {choices('Statuses (none: any)', 'statuses', RunStatus.options.filter((s) => s !== 'queued' && s !== 'running'))}
        {choices('Outcomes (none: any)', 'outcomes', Outcome.options)}
        <label>
          New findings at or above{' '}
          <select name="severity" defaultValue="">
            <option value="">(no such condition)</option>
            {Severity.options.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {create.error && (
          <p role="alert" className="error">
            Could not subscribe: {create.error.message}
          </p>
        )}
        <button type="submit" className="primary" disabled={create.isPending}>
          Subscribe
        </button>
      </form>
    </details>
  );
}
