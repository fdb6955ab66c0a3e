/**
 * Values that carry their own JSON, encoded once and shared: a chunk of log sent to many WebSocket
 * clients is serialised once, not once per client (server/src/trpc/wsEncoder.ts writes these bytes
 * into each client's message). The bytes hang on a symbol, which JSON.stringify ignores, so every
 * other consumer sees the plain value.
 */
const JSON_BYTES = Symbol('JSON bytes');

interface Carrier {
  [JSON_BYTES]?: () => Buffer;
}

/** Marks `value` as having the JSON `json()` answers (UTF-8 bytes, exactly what JSON.stringify(value) would give). */
export function withJsonBytes<T extends object>(value: T, json: () => Buffer): T {
  Object.defineProperty(value, JSON_BYTES, { value: json });
  return value;
}

/** The JSON of `value` if it carries it. */
export function jsonBytesOf(value: unknown): Buffer | undefined {
  return typeof value === 'object' && value !== null ? (value as Carrier)[JSON_BYTES]?.() : undefined;
}
