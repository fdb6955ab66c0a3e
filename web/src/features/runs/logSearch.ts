/**
 * Search in a log, incremental: lines are scanned once, block by block within a time budget, so a
 * term typed over a million lines never blocks the page, and lines that arrive later are scanned as
 * they come rather than the whole log again. Matches are lines (a line with the term twice is one).
 */
import type { LogLines } from './logLines';

/** Lines decoded and compared at once; small enough that a block takes well under a frame. */
const BLOCK = 4096;

export class LogSearch {
  /** The lines that hold the term, in order (0-based). */
  readonly matches: number[] = [];
  /** Lines scanned so far. */
  scanned = 0;

  constructor(
    readonly term: string,
    readonly lines: LogLines,
  ) {}

  /** Whether every line known was scanned. */
  get done(): boolean {
    return this.scanned >= this.lines.count;
  }

  /** Scans on for about `budgetMs`; true when it found anything or got further. */
  step(budgetMs: number): boolean {
    const started = performance.now();
    const before = this.scanned;
    while (this.scanned < this.lines.count && performance.now() - started < budgetMs) {
      const from = this.scanned;
      const to = Math.min(this.lines.count, from + BLOCK);
      const texts = this.lines.slice(from, to);
      for (let i = 0; i < texts.length; i++) if (texts[i]?.toLowerCase().includes(this.term)) this.matches.push(from + i);
      this.scanned = to;
    }
    return this.scanned !== before;
  }

  /** The index in `matches` of the first match at or after line `line` (or the last one before it when `backwards`). */
  nearest(line: number, backwards: boolean): number {
    let lo = 0;
    let hi = this.matches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.matches[mid] ?? 0) < line) lo = mid + 1;
      else hi = mid;
    }
    return backwards ? lo - 1 : lo;
  }
}
