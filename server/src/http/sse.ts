/**
 * GET /runs/{run_id}/logs: the run's log as Server-Sent Events for `curl -N` and EventSource. Each
 * event carries whole lines as `data:` fields and the byte offset past them as its `id:`; the last
 * event is `event: end` with the final run. Adapts the same LogStreamer iterable as tRPC, and makes
 * the SSE form of each chunk of log once, for every reader of it.
 */
import { once } from 'node:events';
import { LogEventId } from '../../../shared/src/schemas/logEvent';
import type { LogChunk, StreamEvent } from '../services/logStream';
import { authorizeLogRead } from './auth';
import { sendError, sendThrown } from './respond';
import type { RunRequest } from './runFiles';


const DATA_LINE = /\n/g;

/**
 * A chunk's event: `id:`, then its lines, each after `data: `. Valid UTF-8 is built from the log's
 * bytes as they are (one character per byte, back to bytes as Latin-1, a plain copy): only the line
 * breaks change, nothing is decoded or encoded. Other bytes go through the decoded text (bad bytes
 * as U+FFFD). Made once and written as the same Buffer to every reader of the chunk (LogChunk.formOf).
 */
export function sseOfChunk(chunk: LogChunk): Buffer {
  return Buffer.from(`id: ${chunk.end}\ndata: ${chunk.body().replace(DATA_LINE, '\ndata: ')}\n\n`, chunk.utf8 ? 'latin1' : 'utf8');
}

/** An event in Server-Sent Events form: `data:` lines, the offset as `id:`; `event: end` with the run. */
export function sseOf(event: StreamEvent): Buffer {
  if (event.chunk) return event.chunk.formOf(sseOfChunk);
  if (event.data.type === 'end') return Buffer.from(`event: end\nid: ${event.id}\ndata: ${JSON.stringify(event.data.run)}\n\n`);
  return Buffer.from(`id: ${event.id}\ndata: ${event.data.lines.join('\ndata: ')}\n\n`);
}

export async function serveLogStream({ req, res, runId, services, onError }: RunRequest, heartbeatMs: number): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  // Each one sent is checked (an empty one is none); the header, which EventSource sends when it resumes, wins.
  const given = { 'Last-Event-ID': req.headers['last-event-id'], last_event_id: url.searchParams.get('last_event_id') ?? undefined };
  let from = 0;
  for (const [field, raw] of Object.entries(given).reverse()) {
    if (raw === undefined || raw === '') continue;
    const id = LogEventId.safeParse(raw);
    if (!id.success) return sendError({ res, status: 400, message: `${field}: ${id.error.issues[0]?.message ?? 'invalid'}` });
    from = Number(id.data);
  }
  let principal;
  try {
    principal = await authorizeLogRead(req, runId, services);
    await services.runs.get(runId);
  } catch (e) {
    return sendThrown(res, e, onError);
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
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs);
  try {
    for await (const event of services.logs.events(runId, from, stop, 'sse')) {
      if (!res.write(sseOf(event))) await once(res, 'drain', { signal: stop });
    }
  } catch (e) {
    if (!closed.signal.aborted && !lost.aborted) onError(e);
  } finally {
    clearInterval(heartbeat);
    // Shutting down: ask EventSource to come back in a few seconds (from its Last-Event-ID) rather than at once.
    if (services.stopping.aborted && !closed.signal.aborted) res.write('retry: 3000\n\n');
    res.end();
  }
}
