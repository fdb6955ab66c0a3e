/**
 * A task run now and then every interval until stopped, one run at a time: a run asked for while one
 * is going gets that one's answer. Failures go to `onError` and the next run comes as planned.
 */
export class Periodic<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  constructor(
    private readonly task: () => Promise<T>,
    private readonly options: { intervalMs: number; onError: (e: unknown) => void },
  ) {}

  /** Runs the task now, then every interval, until stop(). */
  start(): void {
    const tick = () => {
      this.run().catch(this.options.onError);
      this.timer = setTimeout(tick, this.options.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the schedule; resolves once a run going now is over. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs the task now, or answers the run going now. */
  run(): Promise<T> {
    this.running ??= this.task().finally(() => (this.running = undefined));
    return this.running;
  }
}
