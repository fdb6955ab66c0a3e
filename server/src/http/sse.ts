/**
 * GET /runs/{run_id}/logs: the run's log as Server-Sent Events for `curl -N` and EventSource. Each
 * event carries whole lines as `data:` fields and the byte offset past them as its `id:`; the last
 * event is `event: end` with the final run. Adapts the same LogStreamer iterable as tRPC.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LogEventId } from '../../../shared/src/schemas/logEvent';
import type { Services } from '../services';
import { authorizeLogRead } from './auth';
import { sendError, sendThrown } from './respond';

export async function serveLogStream(
  req: IncomingMessage,
  res: ServerResponse,
  runId: string,
  services: Services,
  opts: { heartbeatMs: number; onError: (e: unknown) => void },
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // Each one sent is checked (an empty one is none); the header, which EventSource sends when it resumes, wins.
  const given = { 'Last-Event-ID': req.headers['last-event-id'], last_event_id: url.searchParams.get('last_event_id') ?? undefined };
  let from = 0;
  for (const [field, raw] of Object.entries(given).reverse()) {
    if (raw === undefined || raw === '') continue;
    const id = LogEventId.safeParse(raw);
    if (!id.success) return sendError(res, 400, `${field}: ${id.error.issues[0]?.message ?? 'invalid'}`);
    from = Number(id.data);
  }
  let principal;
  try {
    principal = await authorizeLogRead(req, runId, services);
    await services.runs.get(runId);
  } catch (e) {
    return sendThrown(res, e, opts.onError);
  }

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no', // nginx: pass events through as they come
  });
  res.flushHeaders();
  const closed = new AbortController();
  res.once('close', () => closed.abort());
  // A shutting-down server ends the stream between two events: EventSource resumes elsewhere with Last-Event-ID.
  // So does a credential that stops verifying (a revoked key): EventSource's reconnection then gets its 401.
  const lost = services.auth.watch(principal, closed.signal);
  const stop = AbortSignal.any([closed.signal, services.stopping, lost]);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), opts.heartbeatMs);
  try {
    for await (const event of services.logs.events(runId, from, stop, 'sse')) {
      if (!res.write(event.sse())) await once(res, 'drain', { signal: stop });
    }
  } catch (e) {
    if (!closed.signal.aborted && !lost.aborted) opts.onError(e);
  } finally {
    clearInterval(heartbeat);
    // Shutting down: ask EventSource to come back in a few seconds (from its Last-Event-ID) rather than at once.
    if (services.stopping.aborted && !closed.signal.aborted) res.write('retry: 3000\n\n');
    res.end();
  }
}
