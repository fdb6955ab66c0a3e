/**
 * The log bus: live logs between the nodes of a fleet, over Redis Streams. A worker appends its log
 * file to the run's stream as it grows (logPublisher.ts); every API node with readers copies the
 * stream into a log file of its own (logMirror.ts), and serves those readers from it exactly as a
 * single server serves its own logs: same event ids (byte offsets), same resume rule, one copy per
 * node however many readers it has.
 *
 * Stream entry ids are byte offsets: an entry `END-0` carries the log bytes [o, END), and `LENGTH-1`
 * says the log is complete. A reader at offset N asks for the entries after `N-0`, so resuming
 * anywhere, on any node, needs no other bookkeeping. A stream holds at most the run's log cap (the log
 * itself is capped) and expires LOG_STREAM_TTL_S after the run ends.
 */

/** Bytes per stream entry (the size a log reader reads at once). */
export const ENTRY_BYTES = 256 * 1024;
/** Entries sent or read per round trip: at most 4 MiB in memory at once. */
export const BATCH_ENTRIES = 16;

export const streamKey = (prefix: string, runId: string) => `${prefix}:log:${runId}`;

/** What an entry id says: the offset the entry's bytes end at, and whether it is the end marker. */
export function parseId(id: string): { end: number; final: boolean } {
  const dash = id.indexOf('-');
  return { end: Number(id.slice(0, dash)), final: id.slice(dash + 1) === '1' };
}
