import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
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

  // A real full disk: a small tmpfs (mounting needs root, as CI has).
  it.skipIf(process.getuid?.() !== 0)('on a disk that fills up, ends with a note saying output was left out, the disk freed or not', () => {
    for (const freed of [true, false]) {
      const mount = mkdtempSync(path.join(tmpdir(), 'logwriter-full-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
      try {
        const f = path.join(mount, 'r.log');
        const w = LogWriter.create(f, 1 << 20);
        writeIn(w, lines(1, 10), 100);
        // Another file takes what is left, as a tool's files would.
        const filler = path.join(mount, 'filler');
        try {
          writeFileSync(filler, Buffer.alloc(1 << 20));
        } catch {
          // full: as meant
        }
        writeIn(w, lines(11, 20_000), 4096);
        expect(w.diskFull).toBe(true);
        expect(w.truncated).toBe(true);
        if (freed) writeFileSync(filler, '');
        w.close();
        const log = readFileSync(f, 'utf8');
        expect(log.startsWith(lines(1, 10))).toBe(true);
        expect(log).toMatch(/\n\[oss-runner: the disk is full \(ENOSPC\): output from here on is left out of the log\]\n$/);
        // On a disk still full the note takes the place of the last lines: whole lines stay before it.
        if (!freed) expect(log.split('\n').slice(0, -2).every((l) => /^line \d{4}$/.test(l))).toBe(true);
        expect(statSync(f).size).toBe(w.length);
      } finally {
        execFileSync('umount', ['-l', mount]);
      }
    }
  });
});
