/**
 * Follows a run's log over GET /runs/{run_id}/logs (Server-Sent Events) until its `end` event, with
 * the `eventsource` package. Event ids are byte offsets of the log: after a network drop the stream
 * is reopened from the last id received (`Last-Event-ID`), so no line is lost or repeated. A stream
 * that sends nothing for `idleMs` (the server sends a heartbeat every SSE_HEARTBEAT_S) is taken for a
 * dead connection and reopened too; one that stays down for `giveUpMs` fails.
 */
import { EventSource, type ErrorEvent } from 'eventsource';
import type { Run } from '../../../../shared/src/schemas/run';
import { authHeaders, messageOf, RequestError, type Connection } from './api';

export interface FollowOptions {
  runId: string;
  /** Resume right after this event id (a byte offset); from the start when absent. */
  after?: string;
  /** Fail once no connection has worked for this long. */
  giveUpMs: number;
  /** Reopen a connection that has sent nothing, not even a heartbeat, for this long. */
  idleMs: number;
  onLines: (lines: string[], id: string) => void;
  /** What the client does about the connection, for people (stderr). */
  onNotice: (text: string) => void;
}

/** Pause before a stream that the server refused with a 5xx (shutting down, say) is opened anew. */
const REOPEN_MS = 3000;

export function followLog(c: Connection, o: FollowOptions): Promise<Run> {
  return new Promise<Run>((resolve, reject) => {
    let lastId = o.after ?? '';
    let lastByteAt = Date.now();
    let downSince: number | undefined;
    /** The error body of the last refused attempt (EventSource keeps only the status). */
    let refusal: string | undefined;
    /** Errors the body of the connection now open, to have EventSource reconnect. */
    let breakBody: ((e: Error) => void) | undefined;
    let source: EventSource | undefined;
    let reopen: NodeJS.Timeout | undefined;

    // Every byte is noted (heartbeats too), for the idle check.
    const tappedFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...authHeaders(c) } });
      if (!res.ok) {
        const text = await res.text();
        refusal = messageOf(text);
        return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
      }
      const body = res.body?.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          start: (controller) => void (breakBody = (e) => controller.error(e)),
          transform: (chunk, controller) => {
            lastByteAt = Date.now();
            controller.enqueue(chunk);
          },
        }),
      );
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    };

    const finish = () => {
      clearInterval(watchdog);
      clearTimeout(reopen);
      source?.close();
    };

    const open = () => {
      const url = new URL(`${c.url}/runs/${encodeURIComponent(o.runId)}/logs`);
      // Where to begin; once it has an id of its own, EventSource sends Last-Event-ID, which the server prefers.
      if (lastId) url.searchParams.set('last_event_id', lastId);
      source = new EventSource(url, { fetch: tappedFetch });
      source.onopen = () => {
        if (downSince !== undefined) o.onNotice(`connection back: resuming after byte ${lastId || 0}`);
        downSince = undefined;
        lastByteAt = Date.now();
      };
      source.onmessage = (event: MessageEvent<string>) => {
        lastId = event.lastEventId;
        o.onLines(event.data.split('\n'), event.lastEventId);
      };
      source.addEventListener('end', (event: MessageEvent<string>) => {
        finish();
        resolve(JSON.parse(event.data) as Run);
      });
      source.onerror = (event: ErrorEvent) => {
        downSince ??= Date.now();
        // CONNECTING: EventSource reconnects by itself, with Last-Event-ID.
        if (source?.readyState === EventSource.CONNECTING) return o.onNotice(`connection lost (${event.message ?? 'closed'}): reconnecting`);
        const status = event.code ?? 0;
        if (status >= 400 && status < 500) {
          finish();
          return reject(new RequestError(status, `GET /runs/${o.runId}/logs: ${status} ${refusal ?? event.message ?? ''}`.trim()));
        }
        o.onNotice(`the server answered ${status || event.message}: trying again in ${REOPEN_MS / 1000} s`);
        reopen = setTimeout(open, REOPEN_MS);
      };
    };

    // Also what keeps the process alive while EventSource waits to reconnect (its timer is unref'd).
    const watchdog = setInterval(() => {
      if (downSince !== undefined && Date.now() - downSince > o.giveUpMs) {
        finish();
        return reject(new RequestError(0, `${c.url} unreachable for ${Math.round(o.giveUpMs / 1000)} s: giving up on run ${o.runId}`));
      }
      if (source?.readyState === EventSource.OPEN && Date.now() - lastByteAt > o.idleMs) {
        o.onNotice(`nothing received for ${Math.round(o.idleMs / 1000)} s`);
        lastByteAt = Date.now();
        breakBody?.(new Error('idle connection'));
      }
    }, 250);
    open();
  });
}
