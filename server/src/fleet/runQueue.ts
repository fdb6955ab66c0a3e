/**
 * The fleet's run queue (BullMQ on Redis): one queue per tag, so a worker takes only the tools it was
 * told it serves (WORKER_TAGS), on a machine that can reach their targets. A job carries a run id and
 * nothing else; the run itself lives in PostgreSQL, where a worker claims it atomically before it
 * starts (a job delivered twice, after a Redis failover say, never runs a tool twice).
 */
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { QueueCounts } from '../../../shared/src/schemas/fleet';
import { RunMustWait } from '../services/runs/intake';
import { bullConnection } from './redis';

interface RunJob {
  run_id: string;
  name: string;
}

export class RunQueue {
  private readonly queues = new Map<string, Queue>();

  /** Opens the queue of every tag now: one made lazily while Redis is away would hold its first start. */
  constructor(private readonly deps: { url: string; prefix: string; tags: string[]; onError: (message: string, e: unknown) => void }) {
    for (const tag of deps.tags) this.queue(tag);
  }

  private queue(tag: string): Queue {
    let queue = this.queues.get(tag);
    if (!queue) {
      // Fail fast while Redis is away: a start answers 503 instead of hanging.
      queue = new Queue(`runs.${tag}`, { connection: { ...bullConnection(this.deps.url), enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: this.deps.prefix });
      queue.on('error', (e) => this.deps.onError(`the run queue "${tag}" failed`, e));
      this.queues.set(tag, queue);
    }
    return queue;
  }

  /**
   * Queues a run. The job id is the run id: while a job waits, adding it again changes nothing. Jobs
   * are removed once done, so a run still queued in the database can always be queued again.
   */
  async enqueue(run: RunJob, tag: string): Promise<void> {
    await this.queue(tag).add('run', { run_id: run.run_id, name: run.name } satisfies RunJob, { jobId: run.run_id, removeOnComplete: true, removeOnFail: true });
  }

  async counts(tags: string[]): Promise<QueueCounts[]> {
    return Promise.all(
      tags.map(async (tag) => {
        const c = await this.queue(tag).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
        return { tag, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

/**
 * A worker's side: takes jobs from the queues of its tags, up to `concurrency` per queue, and hands
 * each to `execute`, which resolves when the run is over. BullMQ renews the job's lock meanwhile; a
 * job whose worker died is not delivered again (maxStalledCount 0): the run's own lease says it is lost.
 * A worker that died holding a job before it claimed the run (between a job taken and the claim, or
 * in a wait for its turn) holds nothing any more after `leaseMs`: its lock lasts that long, the check
 * for such jobs runs as often, and the API nodes then queue the run again (member.ts). With BullMQ's
 * own 30 s a run could wait a minute and a half, and every later run of its tool behind it.
 * A run that must wait its turn (RunMustWait: its tool's concurrency or cache, held across the fleet)
 * goes back to the queue, delayed by `waitRetryMs`, for whichever worker is free then.
 */
export class QueueConsumer {
  private readonly workers: Worker<RunJob>[];
  private full = false;
  /** Set once draining (shutdown): slots freed then take no new job. */
  private stopped = false;

  constructor({ url, prefix, tags, concurrency, waitRetryMs, leaseMs, execute, onError }: { url: string; prefix: string; tags: string[]; concurrency: number; waitRetryMs: number; leaseMs: number; execute: (job: RunJob) => Promise<void>; onError: (message: string, e: unknown) => void }) {
    const run = async (job: Job<RunJob>, token?: string) => {
      try {
        await execute(job.data);
      } catch (e) {
        if (!(e instanceof RunMustWait)) throw e;
        await job.moveToDelayed(Date.now() + waitRetryMs, token);
        throw new DelayedError();
      }
    };
    this.workers = tags.map((tag) => {
      const worker = new Worker<RunJob>(`runs.${tag}`, run, {
        connection: bullConnection(url),
        prefix,
        concurrency,
        maxStalledCount: 0,
        lockDuration: leaseMs,
        stalledInterval: leaseMs,
      });
      worker.on('error', (e) =>
        // After Redis restarted empty, a job under way is gone from it: its run goes on, recorded in PostgreSQL.
        onError(/Missing (key|lock) for job/.test(e.message) ? `the queue "${tag}" lost a job under way (Redis restarted?); its run is unaffected` : `taking runs of tag "${tag}" failed`, e),
      );
      return worker;
    });
  }

  /**
   * A worker of several tags has one BullMQ worker per tag: while the process's slots are all taken it
   * takes no job of any tag (so another worker gets it), and takes them again once a slot is free.
   */
  throttle(full: boolean): void {
    if (this.stopped || full === this.full) return;
    this.full = full;
    for (const w of this.workers) {
      if (full) void w.pause(true);
      else void w.resume();
    }
  }

  /** Takes no more jobs; jobs under way go on. */
  async pause(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers.map((w) => w.pause(true)));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
