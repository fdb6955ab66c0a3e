/**
 * GET /runs/{run_id}/logs: the run's log as Server-Sent Events for `curl -N` and EventSource. Each
 * event carries whole lines as `data:` fields and the byte offset past them as its `id:`; the last
 * event is `event: end` with the final run. Adapts the same LogStreamer iterable as tRPC, and makes
 * the SSE form of each chunk of log once, for every reader of it.
 */
import type { ServerResponse } from 'node:http';
import { LogEventId } from '../../../shared/src/schemas/logEvent';
import { leaseOf, type Bytes } from '../lib/bufferPool';
import { belowMark, HIGH_BITS, repeated } from '../lib/wordScan';
import { linesEnd, type LogChunk, type StreamEvent } from '../services/logStream';
import { authorizeLogRead } from './auth';
import { sendError, sendThrown } from './respond';
import type { RunRequest } from './runFiles';


const DATA_LINE = /\n/g;
const LF = 0x0a;
const CR = 0x0d;
/** Bytes below CR: line breaks (and a few control characters, rare in logs, taken byte by byte too). */
const BREAKS_BOUND = repeated(CR + 1);
/** Bytes written at most for one byte of log (a line break becomes `\ndata: `). */
const MOST_PER_BYTE = 7;

/** Writes `\ndata: ` at `o`; answers where it ends. */
function dataPrefix(out: Uint8Array, o: number): number {
  out[o] = LF;
  out[o + 1] = 0x64; // d
  out[o + 2] = 0x61; // a
  out[o + 3] = 0x74; // t
  out[o + 4] = 0x61; // a
  out[o + 5] = 0x3a; // :
  out[o + 6] = 0x20; // space
  return o + 7;
}

/** Copies `src[from, to)` byte by byte into `out` at `o`, `\ndata: ` for each line break (\n, \r\n or \r); answers where it ends. */
// eslint-disable-next-line max-params -- a byte copy in the stream's hot path, shaped like Buffer.copy (source, range, target, position): no object per call
function copyDataBytes(src: Uint8Array, from: number, to: number, out: Uint8Array, o: number): number {
  for (let k = from; k < to; k++) {
    const c = src[k] ?? 0;
    if (c === LF || (c === CR && src[k + 1] !== LF)) o = dataPrefix(out, o);
    else if (c !== CR) out[o++] = c;
  }
  return o;
}

/**
 * Writes the lines of `src[0, n)` into `out` from `o`, each line break made `\ndata: `, and answers
 * where they end; -1 if that would pass `limit`. Eight bytes at a time while they hold no line break
 * (two 32-bit words, copied as they are), byte by byte where they do. Measured against building the
 * same bytes as a string (`replace`, which V8 makes as a tree of pieces that writing then flattens):
 * 0.6-0.95 of its CPU time for lines of 80 bytes, 0.7 for lines of 20, and nothing on V8's heap.
 */
// eslint-disable-next-line max-params -- a byte copy in the stream's hot path, shaped like Buffer.copy (source, range, target, position): no object per call
export function writeDataLines(src: Buffer, n: number, out: Buffer, o: number, limit: number): number {
  const words = new DataView(src.buffer, src.byteOffset, src.length);
  const into = new DataView(out.buffer, out.byteOffset, out.length);
  // One loop to the end, the last few bytes in it too: code after a loop that V8 compiled while in it
  // (on-stack replacement, in the first call) has no type feedback yet and sent every call back to the
  // interpreter.
  for (let i = 0; i < n; i += 8) {
    if (o + 8 * MOST_PER_BYTE > limit) return -1;
    if (i + 8 > n) return copyDataBytes(src, i, n, out, o);
    const a = words.getUint32(i, true);
    const b = words.getUint32(i + 4, true);
    if ((belowMark(a, BREAKS_BOUND) | belowMark(b, BREAKS_BOUND)) & HIGH_BITS) o = copyDataBytes(src, i, i + 8, out, o);
    else {
      into.setUint32(o, a, true);
      into.setUint32(o + 4, b, true);
      o += 8;
    }
  }
  return o;
}

/**
 * A chunk's event: `id:`, then its lines, each after `data: `. Valid UTF-8 is copied from the log's
 * bytes as they are, into a buffer lent to the chunk (LogChunk.lend): only the line breaks change,
 * nothing is decoded or encoded. Other bytes go through the decoded text (bad bytes as U+FFFD), as
 * does a chunk no longer held (a Buffer of its own). Made once and written as the same bytes to every
 * reader of the chunk (LogChunk.formOf).
 */
export function sseOfChunk(chunk: LogChunk): Bytes {
  const head = `id: ${chunk.end}\ndata: `;
  if (chunk.utf8) {
    const bytes = chunk.bytes();
    const n = linesEnd(bytes);
    const lease = chunk.lend(head.length + n + 2);
    if (lease) {
      const out = lease.buffer;
      const end = writeDataLines(bytes, n, out, out.write(head, 0, 'latin1'), out.length - 2);
      if (end >= 0) {
        out[end] = LF;
        out[end + 1] = LF;
        return lease.view(0, end + 2);
      }
      lease.release(); // too many short lines for a pooled buffer: made as a string below
    }
  }
  const body = chunk.body().replace(DATA_LINE, '\ndata: ');
  return Buffer.from(`${head}${body}\n\n`, chunk.utf8 ? 'latin1' : 'utf8');
}

/** An event in Server-Sent Events form: `data:` lines, the offset as `id:`; `event: end` with the run. */
export function sseOf(event: StreamEvent): Buffer {
  if (event.chunk) return event.chunk.formOf(sseOfChunk);
  if (event.data.type === 'end') return Buffer.from(`event: end\nid: ${event.id}\ndata: ${JSON.stringify(event.data.run)}\n\n`);
  return Buffer.from(`id: ${event.id}\ndata: ${event.data.lines.join('\ndata: ')}\n\n`);
}

/** Writes `bytes`; a pooled buffer is held until the socket is done with it (the callback comes on error too). */
function writeHeld(res: ServerResponse, bytes: Buffer): boolean {
  const lease = leaseOf(bytes);
  if (!lease) return res.write(bytes);
  lease.hold();
  return res.write(bytes, () => lease.release());
}

/**
 * Waits for the response's next 'drain', or until `stop` aborts. One listener on `stop` for the whole
 * stream, not one per wait (`events.once` with a signal): the wait comes after nearly every event, and
 * adding a listener to a combined signal (AbortSignal.any) costs several microseconds each time.
 */
function drainWaiter(res: ServerResponse, stop: AbortSignal) {
  let stopped = stop.aborted;
  let wake: (() => void) | undefined;
  const onStop = () => {
    stopped = true;
    wake?.();
  };
  stop.addEventListener('abort', onStop);
  return {
    next: () =>
      stopped
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            wake = resolve;
            res.once('drain', resolve);
          }),
    dispose: () => stop.removeEventListener('abort', onStop),
  };
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
  const drained = drainWaiter(res, stop);
  try {
    for await (const event of services.logs.events({ runId, from, signal: stop, transport: 'sse' })) {
      if (!writeHeld(res, sseOf(event))) await drained.next();
    }
  } catch (e) {
    if (!closed.signal.aborted && !lost.aborted) onError(e);
  } finally {
    clearInterval(heartbeat);
    drained.dispose();
    // Shutting down: ask EventSource to come back in a few seconds (from its Last-Event-ID) rather than at once.
    if (services.stopping.aborted && !closed.signal.aborted) res.write('retry: 3000\n\n');
    res.end();
  }
}
