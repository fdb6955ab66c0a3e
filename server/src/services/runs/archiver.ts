/**
 * S3 archiving of finished runs, as a listener on a run's end: the log, the artifacts and the metadata
 * are uploaded and the record says how that went. Also the presigned links of archived runs and the
 * removal of their copies (retention).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Run } from '../../../../shared/src/schemas/run';
import type { S3Archive } from '../archive';
import { timesPath } from '../arrivalTimes';
import type { RunPaths } from './paths';
import type { RunRecords } from './records';

const now = () => new Date().toISOString();

export class RunArchiver {
  /** Runs being uploaded to S3 now: retention leaves them alone until they are done. */
  readonly uploading = new Set<string>();
  /** Uploads under way; shutdown waits for them. */
  private readonly archiving = new Set<Promise<void>>();

  constructor(
    private readonly archive: S3Archive,
    private readonly deps: { records: RunRecords; logPath: (runId: string) => string; paths: RunPaths; onError: (message: string, e: unknown) => void },
  ) {
    deps.records.onEnded((run) => this.track(this.upload(run)));
  }

  /** An archived run with presigned links to its log and artifacts in S3 (made now: they expire). */
  async withLinks(run: Run): Promise<Run> {
    if (!run.archived_at) return run;
    const [logUrl, ...urls] = await Promise.all([this.archive.link(run.run_id, 'log'), ...run.artifacts.map((a) => this.archive.link(run.run_id, `artifacts/${a.name}`))]);
    return { ...run, log_url: logUrl ?? null, artifacts: run.artifacts.map((a, i) => ({ ...a, url: urls[i] ?? null })) };
  }

  remove(runId: string): Promise<void> {
    return this.archive.remove(runId);
  }

  async drain(): Promise<void> {
    await Promise.all(this.archiving);
  }

  private track(work: Promise<void>): void {
    this.archiving.add(work);
    void work.finally(() => this.archiving.delete(work));
  }

  /** Uploads a finished run's log, artifacts and metadata to S3, and records how that went. */
  private async upload(run: Run): Promise<void> {
    const { records, paths, onError } = this.deps;
    const log = this.deps.logPath(run.run_id);
    const files = [
      { name: 'log', path: log, type: 'text/plain; charset=utf-8' },
      ...(existsSync(timesPath(log)) ? [{ name: 'log.times', path: timesPath(log), type: 'text/plain; charset=utf-8' }] : []),
      ...run.artifacts.map((a) => ({ name: `artifacts/${a.name}`, path: path.join(paths.artifacts(run.run_id), a.name), type: a.type, size: a.size })),
    ];
    this.uploading.add(run.run_id);
    try {
      await this.archive.upload(run, files);
      await records.update(run.run_id, { archived_at: now(), archive_error: null });
    } catch (e) {
      onError(`uploading run ${run.run_id} to S3 failed`, e);
      await records.update(run.run_id, { archive_error: (e as Error).message || String(e) }).catch(() => undefined);
    } finally {
      this.uploading.delete(run.run_id);
    }
  }
}
