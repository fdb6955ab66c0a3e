/**
 * Cron expressions, read by croner (no dependencies, time zones through Intl): five fields, or six with
 * seconds first. This wraps the three questions a scheduler asks: is it valid, when next, when last.
 */
import { Cron } from 'croner';
import type { ApiIssue } from '../../../../shared/src/schemas/error';

export class CronSchedule {
  private constructor(private readonly cron: Cron) {}

  /** The expression read in `timezone`, or the fields at fault (`cron`, `timezone`) as 400 issues. */
  static parse(expression: string, timezone: string): CronSchedule | ApiIssue[] {
    const issues: ApiIssue[] = [];
    if (!validTimeZone(timezone)) issues.push({ path: 'timezone', message: `"${timezone}" is not an IANA time zone (such as UTC or Europe/Paris)` });
    let cron: Cron | undefined;
    try {
      cron = new Cron(expression, { paused: true, mode: '5-or-6-parts', ...(issues.length ? {} : { timezone }) });
    } catch (e) {
      issues.push({ path: 'cron', message: (e as Error).message.replace(/^CronPattern: /, '') });
    }
    if (!cron || issues.length) return issues;
    if (!cron.nextRun()) return [{ path: 'cron', message: `"${expression}" never fires again` }];
    return new CronSchedule(cron);
  }

  /** The first `n` occurrences after `from`. */
  next(n: number, from: Date): Date[] {
    return this.cron.nextRuns(n, from);
  }

  /** The first occurrence after `from`, or null when it fires no more. */
  nextAfter(from: Date): Date | null {
    return this.cron.nextRun(from);
  }

  /** The last occurrence at or before `at` (occurrences fall on whole seconds), or null. */
  latestAtOrBefore(at: Date): Date | null {
    const wholeSecond = Math.floor(at.getTime() / 1000) * 1000;
    return this.cron.previousRuns(1, new Date(wholeSecond + 1000))[0] ?? null;
  }
}

function validTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
