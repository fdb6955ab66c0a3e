import type { RunStatus } from '../../../shared/src/schemas/run';

export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {status.replace('_', ' ')}
    </span>
  );
}
