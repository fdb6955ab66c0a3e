/**
 * Where a run's files live under LOG_DIR on the machine that runs it: its log, its working directory,
 * its artifacts, and its tool's cache (kept between runs).
 */
import path from 'node:path';

export interface RunPaths {
  log: (runId: string) => string;
  work: (runId: string) => string;
  /** Where a tool writes the files it declares (`{{artifacts}}` in its cmd). */
  artifacts: (runId: string) => string;
  cache: (name: string) => string;
}

export function runPaths(logDir: string): RunPaths {
  return {
    log: (runId) => path.join(logDir, 'runs', `${runId}.log`),
    work: (runId) => path.join(logDir, 'work', runId),
    artifacts: (runId) => path.join(logDir, 'artifacts', runId),
    cache: (name) => path.join(logDir, 'cache', name),
  };
}
