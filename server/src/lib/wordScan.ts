/**
 * Tests on four bytes at once (a 32-bit word read from a Buffer), for encoders that copy a log's bytes
 * into a wire format word by word and look at single bytes only where a word holds one that needs
 * work (a line break, a byte JSON escapes). The classic bit tricks ("Bit Twiddling Hacks", Sean
 * Eron Anderson): whether some byte qualifies is exact (no word with one is ever missed, none without
 * one is taken), which byte is not. Marks are combined with `|` and tested once: `(m1 | m2) & HIGH_BITS`.
 * JavaScript's bitwise operators work on 32 bits, wrapping, as the tricks need.
 */

/** The high bit of each byte: a mark's bits that count. */
export const HIGH_BITS = 0x80808080;

/** `byte` in each of the four bytes of a word. */
export const repeated = (byte: number): number => (byte * 0x01010101) >>> 0;

/** A mark with a high bit set (`& HIGH_BITS` nonzero) if a byte of `word` is below the byte in `repeatedBound` (`repeated(n)`, n at most 128). */
export function belowMark(word: number, repeatedBound: number): number {
  return (word - repeatedBound) & ~word;
}

/** A mark with a high bit set (`& HIGH_BITS` nonzero) if a byte of `word` equals the byte repeated in `pattern` (`repeated(byte)`). */
export function equalMark(word: number, pattern: number): number {
  return belowMark(word ^ pattern, 0x01010101);
}
