import { describe, expect, it } from 'vitest';
import { scanBreaks } from './lineBreaks';

/** Break ends by the stream's rule, the slow way: every \r\n, \r or \n from `from` on, but a CR as the last byte. */
function expected(bytes: Uint8Array, from: number): { ends: number[]; stop: number } {
  const text = Array.from(bytes.subarray(from), (b) => String.fromCharCode(b)).join('');
  const ends: number[] = [];
  for (const m of text.matchAll(/\r\n|\r|\n/g)) {
    const end = from + m.index + m[0].length;
    if (m[0] === '\r' && end === bytes.length) return { ends, stop: end - 1 };
    ends.push(end);
  }
  return { ends, stop: bytes.length };
}

/** Random bytes, CR and LF among them as often as `breaks` says (0: none, 1: every byte). */
function random(size: number, seed: number, breaks: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = (x % 1000) / 1000 < breaks ? ([0x0a, 0x0d][(x >>> 10) % 2] ?? 0x0a) : (x >>> 16) % 256;
  }
  return bytes;
}

function scan(bytes: Uint8Array, from: number): { ends: number[]; stop: number } {
  const ends: number[] = [];
  const stop = scanBreaks(bytes, from, (end) => ends.push(end));
  return { ends, stop };
}

describe('scanBreaks', () => {
  it('finds every \\n, \\r\\n and lone \\r as the slow rule does, a CR at the end left pending', () => {
    for (let seed = 1; seed <= 300; seed++) {
      // Random bytes hold CRs (the byte loop); half the time they are taken out (the LF search).
      const bytes = random(1 + (seed % 97), seed, [0, 0.05, 0.3, 0.9][seed % 4] ?? 0);
      if (seed % 2) bytes.forEach((b, i) => void (b === 0x0d && (bytes[i] = 0x0a)));
      for (const from of [0, 1, bytes.length >> 1, bytes.length - 1, bytes.length]) {
        expect(scan(bytes, from), `seed ${seed}, from ${from}`).toEqual(expected(bytes, from));
      }
    }
  });

  it('scanned on from where it stopped as bytes arrive, it finds the breaks of the whole', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const bytes = random(2000, seed, 0.2);
      const ends: number[] = [];
      let at = 0;
      for (let upTo = 0; upTo <= bytes.length; upTo += 1 + (seed % 37)) at = scanBreaks(bytes.subarray(0, upTo), at, (end) => ends.push(end));
      at = scanBreaks(bytes, at, (end) => ends.push(end));
      expect({ ends, stop: at }, `seed ${seed}`).toEqual(expected(bytes, 0));
    }
  });
});
