import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogWriter } from './logWriter';

const file = () => path.join(mkdtempSync(path.join(tmpdir(), 'logwriter-')), 'r.log');
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${String(from + i).padStart(4, '0')}\n`).join('');

function writeIn(writer: LogWriter, text: string, chunk: number) {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunk) writer.write(bytes.subarray(i, i + chunk));
}

describe('LogWriter', () => {
  it('keeps everything, byte for byte, under the cap', () => {
    for (const chunk of [1, 7, 4096]) {
      const f = file();
      const w = LogWriter.create(f, 1000);
      const text = lines(1, 90); // 900 bytes
      writeIn(w, text, chunk);
      w.close();
      expect(readFileSync(f, 'utf8')).toBe(text);
      expect(w.truncated).toBe(false);
      expect(existsSync(`${f}.tail`)).toBe(false);
    }
  });

  it('past the cap keeps the head as written, a marker, and the tail from a line start', () => {
    for (const chunk of [3, 64, 250, 10_000]) {
      const f = file();
      const w = LogWriter.create(f, 1000);
      const text = lines(1, 500); // 5000 bytes
      writeIn(w, text, chunk);
      expect(w.length).toBe(750); // only the head is readable while the run goes on
      w.close();
      const log = readFileSync(f, 'utf8');
      expect(w.truncated).toBe(true);
      expect(log.slice(0, 750)).toBe(text.slice(0, 750));
      const marker = /^\n\[oss-runner: the log is capped at 1000 bytes: (\d+) bytes of output are left out here\]\n/.exec(log.slice(750));
      expect(marker).not.toBeNull();
      const tail = log.slice(750 + (marker?.[0].length ?? 0));
      expect(tail).toMatch(/^line \d{4}\n/);
      expect(text.endsWith(tail)).toBe(true);
      expect(tail.length).toBeGreaterThan(200);
      expect(750 + Number(marker?.[1]) + tail.length).toBe(5000);
      expect(existsSync(`${f}.tail`)).toBe(false);
    }
  });
});
