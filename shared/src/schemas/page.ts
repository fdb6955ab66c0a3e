import { z } from 'zod';

/**
 * A page cursor: `next_cursor` of the page before, passed back as it came. It is `s` and the position
 * of the last item of that page; the pattern is exact, so whatever it lets through is a position.
 */
export const Cursor = z
  .string()
  .regex(/^s\d{1,15}$/, 'must be a next_cursor this server gave out')
  .describe('next_cursor from the previous page');
