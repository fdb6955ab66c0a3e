import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { hasParams, ParamsForm } from './ParamsForm';
import { argvText } from '../../components/format';
import { navigate, runPath } from '../../lib/router';
import { useTRPC } from '../../lib/trpc';

/** The catalog: every tool, whether it can run here, and a Run button for those who may. */
export function ToolList({ canRun }: { canRun: boolean }) {
  const trpc = useTRPC();
  const catalog = useQuery(trpc.catalog.list.queryOptions());
  const start = useMutation(trpc.runs.start.mutationOptions({ onSuccess: ({ run }) => navigate(runPath(run.run_id)) }));
  // The tool whose parameter form is open.
  const [asking, setAsking] = useState<string | null>(null);

  return (
    <section aria-labelledby="tools-title">
      <h2 id="tools-title">Tools</h2>
      {catalog.isPending && <p className="muted">Loading the catalog…</p>}
      {catalog.error && <p role="alert" className="error">Could not load the catalog: {catalog.error.message}</p>}
      {start.error && (
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
              <code className="cmd">{argvText(tool.cmd)}</code>
              {!tool.available && <p className="muted unavailable">Not available here: {tool.unavailable_reason}</p>}
            </div>
            {canRun && asking !== tool.name && (
              <button
                type="button"
                className="primary"
                disabled={!tool.available || start.isPending}
                aria-label={`Run ${tool.name}`}
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
                onSubmit={(params) => start.mutate({ name: tool.name, params })}
                onCancel={() => setAsking(null)}
              />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
