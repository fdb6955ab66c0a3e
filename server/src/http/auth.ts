/** Who may read a run's log on the hand-written routes (SSE and raw log): the same rules as tRPC. */
import type { IncomingMessage } from 'node:http';
import { unauthorized } from '../errors';
import type { Services } from '../services';
import type { Role } from '../../../shared/src/schemas/auth';
import type { Principal } from '../services/auth/principal';
import { credentialOf } from '../trpc/context';

/** A caller by header (an API key or JWT) with at least `role`, for hand-written routes such as /metrics. */
export async function authorizeHeader(req: IncomingMessage, role: Role, services: Services): Promise<Principal> {
  const credential = credentialOf({ get: (name) => [req.headers[name]].flat()[0] });
  const principal = await services.auth.authenticate(credential, services.clientIp(req));
  return services.auth.authorize(principal, role);
}

/**
 * A viewer by header (curl, Node), or by `?access_token=` holding a log token for this very run (the
 * browser's EventSource, which cannot send headers). Throws the DomainError to answer with.
 */
export async function authorizeLogRead(req: IncomingMessage, runId: string, services: Services): Promise<Principal> {
  const ip = services.clientIp(req);
  const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('access_token');
  const credential = credentialOf({ get: (name) => [req.headers[name]].flat()[0] });
  const byToken = !credential && token !== null;
  // A credential that fails is audited by authenticate() itself: once, not again here.
  const principal = byToken ? await services.logTokens.verify(token, runId) : await services.auth.authenticate(credential, ip);
  try {
    if (byToken && !principal) throw unauthorized('access_token: not a valid log token for this run (they expire after a few minutes: ask POST /runs/{run_id}/log-token for a new one)');
    // A log token is good only while the credential it was issued to is (an API key not revoked since).
    return services.auth.authorize(byToken && principal ? await services.auth.recheck(principal) : principal, 'viewer', runId);
  } catch (e) {
    services.audit.record({ actor: principal?.id ?? null, ip, action: 'runs.logs', run_id: runId, outcome: 'denied', detail: (e as Error).message });
    throw e;
  }
}
