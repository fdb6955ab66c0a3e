/**
 * The server's log on stdout, written off the event loop with a bound: a Node process of its own logs
 * lines faster than a write can complete (all in one turn of its loop), and its stdout is read here.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LOG = path.join(import.meta.dirname, 'log.ts');

/** The lines a process logs: `count` lines of 100 characters in one turn of its loop, then its exit. */
function logged(bufferBytes: number, count: number): string[] {
  const program = `import { createLogger } from ${JSON.stringify(LOG)};
    const log = createLogger({ level: 'info', format: 'json', bufferBytes: ${bufferBytes} });
    for (let i = 0; i < ${count}; i++) log.info('line ' + String(i).padStart(95, '.'));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
}

describe('the server log on stdout', () => {
  it('keeps every line, in order, when they fit in LOG_BUFFER_BYTES (what waits at exit is written then)', () => {
    const lines = logged(1024 * 1024, 200);
    expect(lines).toEqual(Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(95, '.')}`));
  });

  it('past LOG_BUFFER_BYTES drops lines rather than holding them, and then says how many it dropped', () => {
    const lines = logged(2000, 200);
    const kept = lines.filter((l) => l.startsWith('line '));
    const warning = lines.find((l) => l.includes('were dropped'));
    expect(kept.length).toBeLessThan(200);
    expect(warning).toBe(`${200 - kept.length} line(s) of this log were dropped: stdout took them more slowly than they came, and LOG_BUFFER_BYTES (2000) were waiting already`);
    // Those kept are in order, the first ones.
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => `line ${String(i).padStart(95, '.')}`));
  });

  it('with LOG_BUFFER_BYTES=0 writes each line at once', () => {
    expect(logged(0, 200)).toHaveLength(200);
  });
});
