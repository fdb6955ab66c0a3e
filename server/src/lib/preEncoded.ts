/**
 * Values that carry their own JSON, encoded once and shared: a chunk of log sent to many WebSocket
 * clients is serialised once, not once per client (server/src/trpc/wsEncoder.ts writes this JSON
 * into each client's message). The JSON hangs on a symbol, which JSON.stringify ignores, so every
 * other consumer sees the plain value.
 */
const JSON_BYTES = Symbol('JSON bytes');

/** JSON text, or its UTF-8 bytes. */
export type Json = string | Buffer;

interface Carrier {
  [JSON_BYTES]?: () => Json;
}

/** Marks `value` as having the JSON `json()` answers (exactly what JSON.stringify(value) would give, as text or as UTF-8 bytes). */
export function withJsonBytes<T extends object>(value: T, json: () => Json): T {
  Object.defineProperty(value, JSON_BYTES, { value: json });
  return value;
}

/** The JSON of `value` if it carries it. */
export function jsonBytesOf(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null ? (value as Carrier)[JSON_BYTES]?.() : undefined;
}
