/**
 * Values that carry their own JSON, encoded once and shared: a chunk of log sent to many WebSocket
 * clients is serialised once, not once per client (server/src/trpc/wsEncoder.ts writes this JSON
 * into each client's message). The JSON hangs on a symbol, which JSON.stringify ignores, so every
 * other consumer sees the plain value.
 */
import type { Bytes } from './bufferPool';

const JSON_BYTES = Symbol('JSON bytes');

interface Carrier {
  [JSON_BYTES]?: () => Bytes;
}

/**
 * Bytes a pooled buffer keeps free before and after the JSON it carries (lib/bufferPool.ts), so that
 * the message around it (tRPC's envelope: ids, `"result"`) can be written there, not copied with it.
 */
export const ENVELOPE_ROOM = { before: 256, after: 64 } as const;

/**
 * Marks `value` as having the JSON `json()` answers: exactly the UTF-8 bytes of JSON.stringify(value),
 * the same Buffer while they stay valid (a new one when they were made again).
 */
export function withJsonBytes<T extends object>(value: T, json: () => Bytes): T {
  Object.defineProperty(value, JSON_BYTES, { value: json });
  return value;
}

/** The JSON of `value` if it carries it. */
export function jsonBytesOf(value: unknown): Bytes | undefined {
  return typeof value === 'object' && value !== null ? (value as Carrier)[JSON_BYTES]?.() : undefined;
}
