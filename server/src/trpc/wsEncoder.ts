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
import { leaseOf, type Bytes } from '../lib/bufferPool';
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
 * The messages made lately from each shared JSON, by the rest of the message (the subscription's id,
 * the event's id): clients whose envelopes are alike (tRPC clients number their subscriptions from 1)
 * get the very same message, put together once. Kept while the JSON is (a chunk makes its JSON again,
 * as a new Buffer, once its pooled one has gone back).
 */
const messages = new WeakMap<Bytes, Map<string, Bytes>>();
/** Envelopes kept per shared JSON: a bound on the memory, not on the clients (others are put together each time). */
const ENVELOPES_KEPT = 4;

/**
 * The message `before` + `json` + `after` written around the JSON in its pooled buffer's free room
 * (ENVELOPE_ROOM), with nothing copied: once per JSON, for its first envelope. Null when it is not
 * pooled or the envelope does not fit (a long subscription id).
 */
function inPlace(json: Bytes, before: string, after: string): Bytes | null {
  const lease = leaseOf(json);
  if (!lease) return null;
  const at = json.byteOffset - lease.buffer.byteOffset;
  const end = at + json.length;
  const [b, a] = [Buffer.byteLength(before), Buffer.byteLength(after)];
  if (b > at || end + a > lease.buffer.length) return null;
  lease.buffer.write(before, at - b);
  lease.buffer.write(after, end);
  return lease.view(at - b, end + a);
}

export const wsEncoder: Encoder = {
  encode(message) {
    const data = dataOf(message);
    const json = jsonBytesOf(data);
    if (!json) return jsonEncoder.encode(message);
    const envelope = JSON.stringify(message, (_key, value: unknown) => (value === data ? HOLE : value));
    let made = messages.get(json);
    if (!made) messages.set(json, (made = new Map<string, Bytes>()));
    let out = made.get(envelope);
    if (!out) {
      const at = envelope.indexOf(QUOTED_HOLE);
      const [before, after] = [envelope.slice(0, at), envelope.slice(at + QUOTED_HOLE.length)];
      out = (made.size === 0 ? inPlace(json, before, after) : null) ?? Buffer.concat([Buffer.from(before), json, Buffer.from(after)]);
      if (made.size < ENVELOPES_KEPT) made.set(envelope, out);
    }
    return out;
  },
  decode: (data) => jsonEncoder.decode(data),
};

type SendOptions = Parameters<WebSocket['send']>[1] & object;
type SendCallback = (err?: Error) => void;

/**
 * A ws WebSocket that sends bytes as a text frame: every message here is JSON, whether tRPC hands it
 * over as a string or as bytes from wsEncoder. Bytes in a pooled buffer are held until the socket has
 * written them (ws calls back on failure too).
 */
export class JsonWebSocket extends WebSocket {
  override send(data: Parameters<WebSocket['send']>[0], cb?: SendCallback): void;
  override send(data: Parameters<WebSocket['send']>[0], options: SendOptions, cb?: SendCallback): void;
  override send(data: Parameters<WebSocket['send']>[0], options?: SendOptions | SendCallback, cb?: SendCallback): void {
    const done = typeof options === 'function' ? options : cb;
    const text = { ...(typeof options === 'function' ? undefined : options), binary: false };
    const lease = leaseOf(data);
    if (!lease) return super.send(data, text, done);
    lease.hold();
    try {
      super.send(data, text, (err) => {
        lease.release();
        done?.(err);
      });
    } catch (e) {
      lease.release();
      throw e;
    }
  }
}
