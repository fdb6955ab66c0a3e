/**
 * tRPC's WebSocket messages, with one shortcut: a subscription event whose data already carries its
 * JSON (server/src/lib/preEncoded.ts; log chunks do, trpc/logFrames.ts) is written as is inside the message
 * tRPC would have sent, so N clients of one log cost one serialisation, not N. The wire format is
 * unchanged: the same JSON text frames any tRPC client reads. (ws writes a server's frames without
 * masking, so one Buffer can go to many sockets.)
 */
import { randomUUID } from 'node:crypto';
import { jsonEncoder, type Encoder } from '@trpc/server/adapters/ws';
import { WebSocket } from 'ws';
import { jsonBytesOf } from '../lib/preEncoded';

/**
 * Stands for the data while the rest of the message is serialised. Random per process, so no client
 * can send it (as its request id) to have its messages cut in the wrong place.
 */
const HOLE = `\u0000data-${randomUUID()}`;
const QUOTED_HOLE = JSON.stringify(HOLE);

/** The data of a subscription message: `result.data`, or for a tracked event `result.data.data`. */
function dataOf(message: unknown): unknown {
  const result = (message as { result?: { id?: unknown; data?: unknown } } | null)?.result;
  if (result?.id !== undefined) return (result.data as { data?: unknown } | undefined)?.data;
  return result?.data;
}

/**
 * The messages made lately from each data that carries its JSON, by the rest of the message (the
 * subscription's id, the event's id): clients whose envelopes are alike (tRPC clients number their
 * subscriptions from 1) get the very same message, put together once. Kept while the data is.
 */
const messages = new WeakMap<object, Map<string, Message>>();
type Message = string | Buffer<ArrayBuffer>;
/** Envelopes kept per shared JSON: a bound on the memory, not on the clients (others are put together each time). */
const ENVELOPES_KEPT = 4;

export const wsEncoder: Encoder = {
  encode(message) {
    const data = dataOf(message);
    const bytes = jsonBytesOf(data);
    if (!bytes) return jsonEncoder.encode(message);
    const envelope = JSON.stringify(message, (_key, value: unknown) => (value === data ? HOLE : value));
    const carrier = data as object;
    let made = messages.get(carrier);
    if (!made) messages.set(carrier, (made = new Map<string, Message>()));
    let out = made.get(envelope);
    if (!out) {
      const at = envelope.indexOf(QUOTED_HOLE);
      const [before, after] = [envelope.slice(0, at), envelope.slice(at + QUOTED_HOLE.length)];
      // JSON as text stays a string (a young V8 string, written by ws as UTF-8); as bytes, one Buffer.
      out = typeof bytes === 'string' ? before + bytes + after : Buffer.concat([Buffer.from(before), bytes, Buffer.from(after)]);
      if (made.size < ENVELOPES_KEPT) made.set(envelope, out);
    }
    return out;
  },
  decode: (data) => jsonEncoder.decode(data),
};

type SendOptions = Parameters<WebSocket['send']>[1] & object;
type SendCallback = (err?: Error) => void;

/** A ws WebSocket that sends bytes as a text frame: every message here is JSON, whether tRPC hands it over as a string or as bytes from wsEncoder. */
export class JsonWebSocket extends WebSocket {
  override send(data: Parameters<WebSocket['send']>[0], cb?: SendCallback): void;
  override send(data: Parameters<WebSocket['send']>[0], options: SendOptions, cb?: SendCallback): void;
  override send(data: Parameters<WebSocket['send']>[0], options?: SendOptions | SendCallback, cb?: SendCallback): void {
    if (typeof options === 'function') super.send(data, { binary: false }, options);
    else super.send(data, { ...options, binary: false }, cb);
  }
}
