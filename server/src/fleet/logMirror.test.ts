import { describe, expect, it } from 'vitest';
import { gapFiller } from './logMirror';

/** The note as a reader finds it (the fault run's judge reads it the same way). */
const NOTE = /\n\[oss-runner: (\d+) bytes of output ([^\]\n]*)\]\n$/;

describe('gapFiller', () => {
  it('fills exactly the bytes that are missing, and says how many in every gap a note fits in', () => {
    const why = 'are not on this node: the worker that ran it keeps them (with S3 configured, every node serves them)';
    const shortest = `\n[oss-runner: 99 bytes of output missing]\n`.length;
    for (let n = 1; n <= 400; n++) {
      const filler = gapFiller(n, why).toString('latin1');
      expect(filler).toHaveLength(n);
      const note = NOTE.exec(filler);
      if (n < shortest - 1) expect(filler.trim()).toBe('');
      if (n >= shortest) expect(note?.[1]).toBe(String(n));
      // The reason whenever it fits; then the short note (found by the fault run: a 120-byte gap said nothing).
      if (n >= 140) expect(note?.[2]).toBe(why);
      else if (n >= shortest) expect(['missing', why]).toContain(note?.[2]);
    }
  });
});
