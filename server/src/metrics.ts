/**
 * Prometheus metrics (prom-client): runs by tool and status, run durations, the queue, running runs,
 * live log readers and bytes streamed by transport, failed authentications, HTTP requests, and the
 * process's own memory, CPU and event-loop lag (prom-client's default metrics).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueCounts } from '../../shared/src/schemas/fleet';
import type { Run } from '../../shared/src/schemas/run';

export type Transport = 'sse' | 'websocket' | 'trpc-sse';

/** What the log streamer tells about its readers. */
export interface StreamObserver {
  opened(transport: Transport): void;
  closed(transport: Transport): void;
  sent(transport: Transport, bytes: number): void;
}

export class Metrics implements StreamObserver {
  readonly registry = new Registry();
  private readonly runsTotal = new Counter({ name: 'oss_runner_runs_total', help: 'Runs that have ended, by tool and final status', labelNames: ['tool', 'status'], registers: [this.registry] });
  private readonly runDuration = new Histogram({
    name: 'oss_runner_run_duration_seconds',
    help: 'From start to end of runs that started, by tool and final status',
    labelNames: ['tool', 'status'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 10800],
    registers: [this.registry],
  });
  private readonly subscribers = new Gauge({ name: 'oss_runner_log_subscribers', help: 'Live log readers, by transport', labelNames: ['transport'], registers: [this.registry] });
  private readonly bytesStreamed = new Counter({ name: 'oss_runner_log_bytes_streamed_total', help: 'Log bytes sent to readers, by transport', labelNames: ['transport'], registers: [this.registry] });
  private readonly authFailures = new Counter({ name: 'oss_runner_auth_failures_total', help: 'Credentials that did not verify', registers: [this.registry] });
  private readonly requests = new Counter({ name: 'oss_runner_http_requests_total', help: 'HTTP requests answered, by method and status', labelNames: ['method', 'status'], registers: [this.registry] });

  constructor(gauges: { running: () => number; queued: () => number }) {
    new Gauge({ name: 'oss_runner_runs_running', help: 'Runs going now', registers: [this.registry], collect() { this.set(gauges.running()); } });
    new Gauge({ name: 'oss_runner_queue_depth', help: 'Runs waiting for a slot', registers: [this.registry], collect() { this.set(gauges.queued()); } });
    for (const transport of ['sse', 'websocket', 'trpc-sse'] satisfies Transport[]) {
      this.subscribers.set({ transport }, 0);
      this.bytesStreamed.inc({ transport }, 0);
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** On a fleet: live nodes by role, and each tag's queue, read from the database and Redis when scraped. */
  watchFleet(read: () => Promise<{ nodes: { role: string; alive: boolean }[]; queues: QueueCounts[] }>): void {
    // One read per scrape serves both gauges (the registry collects them at the same time).
    let reading: Promise<Awaited<ReturnType<typeof read>> | null> | null = null;
    const fleet = () => (reading ??= read().catch(() => null).finally(() => setTimeout(() => (reading = null), 100)));
    new Gauge({
      name: 'oss_runner_fleet_nodes',
      help: 'Nodes of the fleet whose lease is current, by role',
      labelNames: ['role'],
      registers: [this.registry],
      async collect() {
        const now = await fleet();
        this.reset();
        for (const role of ['api', 'worker']) if (now) this.set({ role }, now.nodes.filter((n) => n.role === role && n.alive).length);
      },
    });
    new Gauge({
      name: 'oss_runner_fleet_queue_jobs',
      help: "Jobs in the fleet's run queues, by tag and state",
      labelNames: ['tag', 'state'],
      registers: [this.registry],
      async collect() {
        const now = await fleet();
        this.reset();
        for (const q of now?.queues ?? []) for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) this.set({ tag: q.tag, state }, q[state]);
      },
    });
  }

  runEnded(run: Run): void {
    this.runsTotal.inc({ tool: run.name, status: run.status });
    if (run.started_at && run.finished_at) this.runDuration.observe({ tool: run.name, status: run.status }, (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000);
  }

  authFailed(): void {
    this.authFailures.inc();
  }

  request(method: string, status: number): void {
    this.requests.inc({ method, status: String(status) });
  }

  opened(transport: Transport): void {
    this.subscribers.inc({ transport });
  }

  closed(transport: Transport): void {
    this.subscribers.dec({ transport });
  }

  sent(transport: Transport, bytes: number): void {
    this.bytesStreamed.inc({ transport }, bytes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
