/**
 * The one rule by which a log's bytes split into lines, for the server (which counts them) and the
 * browser (which indexes them): every \n, \r\n or lone \r ends a line. Plain Uint8Array (a Node Buffer
 * is one), so it runs in both.
 */

const LF = 0x0a;
const CR = 0x0d;

/**
 * Finds the line breaks in `bytes` from `from` on, calling `onBreak(end)` with the offset just past
 * each. Answers where the scan stopped: `bytes.length`, or one before it when the last byte is a CR,
 * which may be half of a CRLF (the caller scans on from it once the next byte is here, or takes it as
 * a break of its own at the log's end).
 */
export function scanBreaks(bytes: Uint8Array, from: number, onBreak: (end: number) => void): number {
  const end = bytes.length;
  // Output with no CR (most of it): the engine's own search finds each LF, many times faster than a loop over bytes.
  if (bytes.indexOf(CR, from) < 0) {
    for (let nl = bytes.indexOf(LF, from); nl >= 0; nl = bytes.indexOf(LF, nl + 1)) onBreak(nl + 1);
    return Math.max(from, end);
  }
  let at = from;
  while (at < end) {
    const byte = bytes[at];
    if (byte === LF) onBreak(++at);
    else if (byte === CR) {
      if (at + 1 === end) return at;
      at += bytes[at + 1] === LF ? 2 : 1;
      onBreak(at);
    } else at++;
  }
  return at;
}
