import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ArrivalTimes, readTimes, type TimeIndex } from './arrivalTimes';
import { LogWriter } from './logWriter';

const file = () => path.join(mkdtempSync(path.join(tmpdir(), 'arrival-')), 'r.log');
const line = (n: number) => `line ${String(n).padStart(4, '0')}\n`;

/** The time `index` gives the byte at `offset`: that of the last entry at or before it. */
function timeAt(index: TimeIndex, offset: number): number | undefined {
  let time: number | undefined;
  for (let i = 0; i < index.offsets.length && (index.offsets[i] ?? 0) <= offset; i++) time = index.at[i];
  return time;
}

afterEach(() => void vi.useRealTimers());

describe('ArrivalTimes', () => {
  it('records at most one entry per resolution and answers the one in force at `from` first', () => {
    const f = file();
    const times = ArrivalTimes.create(f, { resolutionMs: 100, maxEntries: 1000 });
    for (const [offset, now] of [[0, 1000], [10, 1050], [20, 1100], [30, 1150], [40, 1300]] as const) times.record(offset, now);
    times.close();
    expect(readFileSync(`${f}.times`, 'utf8')).toBe('0 1000\n20 1100\n40 1300\n');
    expect(readTimes(f, 0, 100)).toEqual({ offsets: [0, 20, 40], at: [1000, 1100, 1300], complete: true });
    expect(readTimes(f, 25, 100)).toEqual({ offsets: [20, 40], at: [1100, 1300], complete: true });
    // Only what of the log is readable: an entry past it is not answered yet.
    expect(readTimes(f, 0, 40)).toEqual({ offsets: [0, 20], at: [1000, 1100], complete: true });
  });

  it('stops at the entry limit and says so', () => {
    const f = file();
    const times = ArrivalTimes.create(f, { resolutionMs: 1, maxEntries: 3 });
    for (let i = 0; i < 10; i++) times.record(i * 10, 1000 + i * 10);
    times.close();
    expect(readTimes(f, 0, 1000)).toEqual({ offsets: [0, 10, 20], at: [1000, 1010, 1020], complete: false });
  });

  it('a log with no index (a run from before it) has no times', () => {
    expect(readTimes(file(), 0, 10)).toEqual({ offsets: [], at: [], complete: true });
  });

  it('every line of a capped log keeps the time its bytes arrived, head and tail alike', () => {
    vi.useFakeTimers();
    for (const chunkLines of [1, 3, 40]) {
      const f = file();
      const writer = LogWriter.create(f, 2000, { resolutionMs: 1, maxEntries: 10_000 });
      // Line n arrives at second n, `chunkLines` lines a write.
      for (let n = 1; n <= 600; n += chunkLines) {
        vi.setSystemTime(n * 1000);
        let text = '';
        for (let k = n; k < n + chunkLines && k <= 600; k++) text += line(k);
        writer.write(Buffer.from(text));
      }
      writer.close();
      const log = readFileSync(f, 'latin1');
      const index = readTimes(f, 0, log.length);
      let offset = 0;
      let checked = 0;
      for (const text of log.split('\n').slice(0, -1)) {
        const n = /^line (\d{4})$/.exec(text)?.[1];
        // The first line of a chunk arrived with it: its time is exact.
        if (n && (Number(n) - 1) % chunkLines === 0) {
          expect(timeAt(index, offset), `line ${n} (chunks of ${chunkLines})`).toBe(Number(n) * 1000);
          checked++;
        }
        offset += text.length + 1;
      }
      expect(checked).toBeGreaterThan(30 / chunkLines);
      // Entries point into the log, increasing; none past its end.
      expect(index.offsets.every((o, i) => o < log.length && (i === 0 || o > (index.offsets[i - 1] ?? 0)))).toBe(true);
    }
  });
});
