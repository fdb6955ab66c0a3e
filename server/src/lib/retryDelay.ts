/** The longest wait between two tries of something that keeps failing. */
const RETRY_MAX_MS = 30_000;

/**
 * How long to wait before try `n` + 1 of something that failed `n` times in a row (n >= 0): 1 s,
 * doubling each time, at most RETRY_MAX_MS.
 */
export const retryDelayMs = (n: number): number => Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(n, 5));
