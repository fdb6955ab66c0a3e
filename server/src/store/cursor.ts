/** Opaque page cursors over an increasing sequence number (newest first), the same for every store. */
export const encodeCursor = (seq: number) => Buffer.from(`s${seq}`).toString('base64url');

export class InvalidCursorError extends Error {}

export function decodeCursor(cursor: string): number {
  const m = /^s(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m?.[1]) throw new InvalidCursorError('cursor is not one this server gave out');
  return Number(m[1]);
}
