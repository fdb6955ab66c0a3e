/** Byte counts as people write them in the catalog and the environment: 1048576, "512MiB", "2 GB". */
import { z } from 'zod';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 };

/** Parses "512MiB", "1.5 GB", "100k" or a plain number; null when it is none of them. */
export function parseByteSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
  if (!m?.[1] || unit === undefined) return null;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A zod type for a byte count of at least `min`, written either way. */
export const byteSize = (min = 0) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = parseByteSize(value);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: 'must be a byte count such as 1048576, "512MiB" or "2GB"' });
      return z.NEVER;
    }
    if (bytes < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes` });
      return z.NEVER;
    }
    return bytes;
  });
