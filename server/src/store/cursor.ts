import { Cursor } from '../../../shared/src/schemas/page';

/** Page cursors over an increasing sequence number (newest first), the same for every store: `s<seq>`. */
export const encodeCursor = (seq: number) => `s${seq}`;

export class InvalidCursorError extends Error {}

/** A page from `limit + 1` rows fetched newest first: the extra row only says there is a next page. */
export function pageOf<Row extends Record<string, unknown>>(rows: Row[], limit: number, seq: string): { rows: Row[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { rows: page, next_cursor: more && last ? encodeCursor(Number(last[seq])) : null };
}

export function decodeCursor(cursor: string): number {
  if (!Cursor.safeParse(cursor).success) throw new InvalidCursorError('cursor is not one this server gave out');
  return Number(cursor.slice(1));
}
