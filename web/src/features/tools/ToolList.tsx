import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { hasParams, ParamsForm } from './ParamsForm';
import { argvText } from '../../components/format';
import { useTRPC } from '../../lib/trpc';
import { openNewRun } from '../runs/RunPage';

/** The server's refusal of parameters, by parameter name (its issues' paths are `params.<name>`). */
function fieldErrors(error: unknown): Record<string, string> {
  const issues = (error as { data?: { issues?: { path: string; message: string }[] } } | null)?.data?.issues ?? [];
  const byName: Record<string, string> = {};
  for (const { path, message } of issues) if (path.startsWith('params.')) byName[path.slice('params.'.length).split('.')[0] ?? ''] ??= message;
  return byName;
}

/** The catalog, compact: each tool's name, what it does and a Run button; its command and details on demand. */
export function ToolList({ canRun }: { canRun: boolean }) {
  const trpc = useTRPC();
  const catalog = useQuery(trpc.catalog.list.queryOptions());
  const start = useMutation(trpc.runs.start.mutationOptions({ onSuccess: ({ run }) => openNewRun(run.run_id) }));
  // The tool whose parameter form is open.
  const [asking, setAsking] = useState<string | null>(null);
  // A closed form gives focus back to its tool's Run button, which comes back in its place.
  const runButtons = useRef(new Map<string, HTMLButtonElement>());
  const closed = useRef<string | null>(null);
  useEffect(() => {
    if (asking !== null || closed.current === null) return;
    runButtons.current.get(closed.current)?.focus();
    closed.current = null;
  }, [asking]);

  return (
    <section aria-labelledby="tools-title">
      <h2 id="tools-title">Tools</h2>
      {catalog.isPending && <p className="muted">Loading the catalog…</p>}
      {catalog.error && <p role="alert" className="error">Could not load the catalog: {catalog.error.message}</p>}
      {start.error && Object.keys(fieldErrors(start.error)).length === 0 && (
        <p role="alert" className="error">
          Could not start: {start.error.message}
        </p>
      )}
      {catalog.data?.items.length === 0 && <p className="muted">The catalog is empty.</p>}
      <ul className="tools">
        {catalog.data?.items.map((tool) => (
          <li key={tool.name} className="card tool">
            <div>
              <h3>{tool.name}</h3>
              <p>{tool.description}</p>
              {!tool.available && <p className="muted unavailable">Not available here</p>}
              <details>
                <summary>Details</summary>
                <code className="cmd">{argvText(tool.cmd)}</code>
                {!tool.available && <p className="muted unavailable">{tool.unavailable_reason}</p>}
              </details>
            </div>
            {canRun && asking !== tool.name && (
              <button
                type="button"
                className="primary"
                disabled={!tool.available || start.isPending}
                aria-label={`Run ${tool.name}`}
                ref={(button) => {
                  if (button) runButtons.current.set(tool.name, button);
                  else runButtons.current.delete(tool.name);
                }}
                onClick={() => (hasParams(tool.params) ? setAsking(tool.name) : start.mutate({ name: tool.name }))}
              >
                Run
              </button>
            )}
            {canRun && asking === tool.name && (
              <ParamsForm
                tool={tool.name}
                schema={tool.params}
                pending={start.isPending}
                errors={fieldErrors(start.error)}
                onSubmit={(params) => start.mutate({ name: tool.name, params })}
                onCancel={() => {
                  closed.current = tool.name;
                  setAsking(null);
                  start.reset();
                }}
              />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
