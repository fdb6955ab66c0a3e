/**
 * Tests on four bytes at once (a 32-bit word read from a Buffer), for encoders that copy a log's bytes
 * into a wire format word by word and look at single bytes only where a word holds one that needs
 * work (a line break, a byte JSON escapes). The classic bit tricks ("Bit Twiddling Hacks", Sean
 * Eron Anderson): exact whether some byte qualifies (no word with one is ever missed), not which.
 * JavaScript's bitwise operators work on 32 bits, wrapping, as the tricks need.
 */

/** `byte` in each of the four bytes of a word. */
export const repeated = (byte: number): number => (byte * 0x01010101) >>> 0;

/** Whether a byte of `word` equals the byte repeated in `pattern` (`repeated(byte)`). */
export function hasByte(word: number, pattern: number): boolean {
  const y = word ^ pattern;
  return ((y - 0x01010101) & ~y & 0x80808080) !== 0;
}

/** Whether a byte of `word` is below `repeatedBound` (`repeated(n)`, n at most 128). */
export function hasByteBelow(word: number, repeatedBound: number): boolean {
  return ((word - repeatedBound) & ~word & 0x80808080) !== 0;
}
