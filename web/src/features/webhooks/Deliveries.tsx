import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { when } from '../../components/format';
import { linkProps, runPath } from '../../lib/router';
import { useTRPC } from '../../lib/trpc';

/** An endpoint's latest deliveries: state, attempts, the last answer, and a button to send one again. */
export function Deliveries({ endpointId }: { endpointId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const options = trpc.webhooks.deliveries.queryOptions({ id: endpointId, limit: 20 });
  // Pending ones change by themselves: looked at again every few seconds while shown.
  const deliveries = useQuery({ ...options, refetchInterval: 5000 });
  const redeliver = useMutation(trpc.webhooks.redeliver.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: options.queryKey }) }));
  if (deliveries.error) return <p role="alert" className="error">Could not load the deliveries: {deliveries.error.message}</p>;
  if (deliveries.data?.items.length === 0) return <p className="muted">No delivery yet.</p>;
  return (
    <div className="table-wrap">
      {redeliver.error && <p role="alert" className="error">Could not redeliver: {redeliver.error.message}</p>}
      <table className="runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
            <th scope="col">Answer</th>
            <th scope="col">Last attempt</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {deliveries.data?.items.map((d) => (
            <tr key={d.id}>
              <td>
                <a {...linkProps(runPath(d.run_id))}>{d.run_id.slice(0, 8)}</a>
                {d.redelivery_of && <span className="muted"> (again)</span>}
              </td>
              <td>{d.state}</td>
              <td>{d.attempts}</td>
              <td title={d.error ?? undefined}>{d.response_status ?? (d.error ? 'no answer' : '')}</td>
              <td>{d.last_attempt_at ? when(d.last_attempt_at) : ''}</td>
              <td>
                <button type="button" disabled={redeliver.isPending} onClick={() => redeliver.mutate({ id: endpointId, delivery_id: d.id })}>
                  Redeliver
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
