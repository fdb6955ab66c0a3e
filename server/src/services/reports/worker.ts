/**
 * Summaries off the event loop: a report of 100,000 findings takes a few hundred milliseconds to
 * parse, which the live streams of other runs must not wait for. One short-lived worker thread per
 * summary. Under tsx, whose loader a worker thread does not inherit from `--import`, the worker registers
 * it before loading this file; built, it loads this file's entry point (server/build.ts).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { RunSummary } from '../../../../shared/src/schemas/summary';
import { summarize } from './summary';

type Args = Parameters<typeof summarize>;

/** A summary's worker may use this much heap (a report of 256 MB does not fit: it fails, the run does not). */
const WORKER_HEAP_MB = 1024;
/** And this much time. */
const WORKER_TIMEOUT_MS = 120_000;

export function summarizeInWorker(...args: Args): Promise<RunSummary | null> {
  return new Promise((resolve, reject) => {
    const self = import.meta.url;
    const options = { workerData: args, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } };
    const worker = self.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(self)}); })`, { ...options, eval: true })
      : new Worker(new URL('summary-worker.js', self), options);
    const timer = setTimeout(() => {
      reject(new Error(`the summary took more than ${WORKER_TIMEOUT_MS / 1000} s`));
      void worker.terminate();
    }, WORKER_TIMEOUT_MS);
    worker.once('message', (summary: RunSummary | null) => resolve(summary));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the summary worker exited with code ${code}`));
    });
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  void summarize(...(workerData as Args)).then((summary) => port.postMessage(summary));
}
