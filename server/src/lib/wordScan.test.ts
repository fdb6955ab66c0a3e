import { describe, expect, it } from 'vitest';
import { belowMark, equalMark, HIGH_BITS, repeated } from './wordScan';

/** A little-endian word of four bytes. */
const word = (bytes: number[]) => Buffer.from(bytes).readUInt32LE(0);

describe('wordScan', () => {
  // Every byte value in every position, among neighbours that do and do not qualify themselves.
  const neighbours = [0x00, 0x0a, 0x1f, 0x20, 0x21, 0x22, 0x5c, 0x7f, 0x80, 0xff];

  it('finds a byte equal to the pattern wherever it is, and no other', () => {
    const wrong: number[][] = [];
    for (const target of [0x0a, 0x0d, 0x22, 0x5c]) {
      for (let b = 0; b < 256; b++) {
        for (let at = 0; at < 4; at++) {
          for (const other of neighbours) {
            const bytes = [other, other, other, other];
            bytes[at] = b;
            if (((equalMark(word(bytes), repeated(target)) & HIGH_BITS) !== 0) !== bytes.includes(target)) wrong.push([target, ...bytes]);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('finds a byte below the bound wherever it is, and no other', () => {
    const wrong: number[][] = [];
    for (const bound of [0x01, 0x20, 0x80]) {
      for (let b = 0; b < 256; b++) {
        for (let at = 0; at < 4; at++) {
          for (const other of neighbours) {
            const bytes = [other, other, other, other];
            bytes[at] = b;
            if (((belowMark(word(bytes), repeated(bound)) & HIGH_BITS) !== 0) !== bytes.some((x) => x < bound)) wrong.push([bound, ...bytes]);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
