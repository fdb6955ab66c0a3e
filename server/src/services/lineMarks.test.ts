import { appendFileSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastLineMark, type LineMark } from './lineMarks';

const dir = mkdtempSync(path.join(tmpdir(), 'line-marks-'));
let files = 0;
const file = (bytes: Buffer) => {
  const f = path.join(dir, `${files++}.log`);
  writeFileSync(f, bytes);
  return f;
};

/** The mark by the stream's own rule, the slow way: every break of the first `upTo` bytes but a CR as their last. */
function expected(bytes: Buffer, upTo: number): LineMark {
  const text = bytes.subarray(0, upTo).toString('latin1');
  let mark = { offset: 0, lines: 0 };
  for (const m of text.matchAll(/\r\n|\r|\n/g)) {
    const end = m.index + m[0].length;
    if (m[0] === '\r' && end === upTo) break;
    mark = { offset: end, lines: mark.lines + 1 };
  }
  return mark;
}

/** Bytes of lines broken every way the stream knows, with CRs and LFs also on each side of the 1 MiB reads. */
function output(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size, 0x61);
  let x = seed;
  for (let i = 0; i < size; i += 1 + ((x = (x * 1103515245 + 12345) >>> 0) % 120)) bytes[i] = [0x0a, 0x0d, 0x0a, 0x0a][x % 4] ?? 0x0a;
  for (const at of [1 << 20, 2 << 20]) if (at < size) bytes.write(x % 2 ? '\r\n' : '\r\r', at - 1, 'latin1');
  return bytes;
}

describe('lastLineMark', () => {
  it('counts lines as the stream splits them, over reads of any size, a CR at the end left for the next byte', async () => {
    for (const seed of [1, 2, 3]) {
      const bytes = output(2.5 * 1024 * 1024, seed);
      for (const upTo of [0, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (2 << 20) + 1, bytes.length]) {
        expect(await lastLineMark(file(bytes), upTo), `seed ${seed}, ${upTo} bytes`).toEqual(expected(bytes, upTo));
      }
    }
  });

  it('a growing log is counted on from its last mark, with the same answer as counting it whole', async () => {
    const bytes = output(3 * 1024 * 1024, 7);
    const growing = file(Buffer.alloc(0));
    for (let at = 0; at < bytes.length; ) {
      const next = Math.min(bytes.length, at + 300_001);
      appendFileSync(growing, bytes.subarray(at, next));
      at = next;
      const whole = path.join(dir, `${files++}.log`);
      copyFileSync(growing, whole);
      const mark = await lastLineMark(growing, at);
      expect(mark).toEqual(await lastLineMark(whole, at));
      expect(mark).toEqual(expected(bytes, at));
    }
  });

  it('a log not here has only its start', async () => {
    expect(await lastLineMark(path.join(dir, 'none.log'), 100)).toEqual({ offset: 0, lines: 0 });
  });

  it('a CR that ended a read and a CR then LF across reads are one break each', async () => {
    const bytes = Buffer.concat([Buffer.alloc((1 << 20) - 1, 0x61), Buffer.from('\r\nb\r'), Buffer.from('c\n')]);
    const f = file(bytes);
    expect(await lastLineMark(f, (1 << 20) + 3)).toEqual({ offset: (1 << 20) + 1, lines: 1 });
    expect(await lastLineMark(f, bytes.length)).toEqual({ offset: bytes.length, lines: 3 });
  });
});
