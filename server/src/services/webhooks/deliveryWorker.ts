/**
 * Sends what is owed: claims due deliveries from the store (a row at a time is one node's), makes one
 * attempt at each, and records how it went. A failure is tried again after a gap that doubles each
 * time (WEBHOOK_RETRY_BASE_S, 2x, 4x... up to WEBHOOK_RETRY_MAX_INTERVAL_S) until WEBHOOK_RETRY_FOR_S
 * after the delivery was made, then it is `failed`. Rows outlive the process: a restart (or another
 * API node) takes up whatever is due, and an attempt whose sender died is taken again once its lease
 * runs out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttemptResult, ClaimedDelivery, WebhookStore } from '../../store/webhookStore';
import type { Attempt, AttemptOutcome } from './sender';

export interface RetryPolicy {
  baseMs: number;
  maxIntervalMs: number;
  /** How long after it was made a delivery is still tried. */
  giveUpAfterMs: number;
}

export interface DeliveryWorkerOptions {
  retry: RetryPolicy;
  /** Deliveries attempted at once by this process. */
  concurrency: number;
  /** How often the store is looked at for deliveries made elsewhere (another node, a redelivery). */
  pollMs: number;
  /** One attempt's longest time; its claim lasts longer, so no other node takes it meanwhile. */
  timeoutMs: number;
  /** Finished deliveries are deleted this long after they were made. */
  keepMs: number;
}

const PRUNE_EVERY_MS = 3600_000;
const LEASE_MARGIN_MS = 30_000;

/** The gap before attempt `attempts + 1`: the base, doubled for each attempt after the first, capped. */
export function retryGap(policy: RetryPolicy, attempts: number): number {
  return Math.min(policy.maxIntervalMs, policy.baseMs * 2 ** Math.min(attempts - 1, 40));
}

/** What a delivery becomes after its attempt number `delivery.attempts` ended with `outcome` at `now` (ms). */
export function afterAttempt({ policy, delivery, outcome, now }: { policy: RetryPolicy; delivery: Pick<ClaimedDelivery, 'attempts' | 'created_at'>; outcome: AttemptOutcome; now: number }): AttemptResult {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (outcome.error === null) return { state: 'delivered', response_status: outcome.status, error: null, next_attempt_at: null, delivered_at: iso(now) };
  const next = now + retryGap(policy, delivery.attempts);
  const deadline = Date.parse(delivery.created_at) + policy.giveUpAfterMs;
  if (next > deadline) return { state: 'failed', response_status: outcome.status, error: `${outcome.error}; given up after ${delivery.attempts} attempt(s)`, next_attempt_at: null, delivered_at: null };
  return { state: 'pending', response_status: outcome.status, error: outcome.error, next_attempt_at: iso(next), delivered_at: null };
}

export class DeliveryWorker {
  private readonly stopping = new AbortController();
  private wakeUp: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private prunedAt = 0;

  constructor(
    private readonly deps: { store: WebhookStore; send: (attempt: Attempt) => Promise<AttemptOutcome>; onError: (message: string, e: unknown) => void },
    private readonly options: DeliveryWorkerOptions,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  /** Something new may be due (a run ended, a redelivery): look now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops claiming; attempts under way are cut short and due again at once (for the next start, or another node). */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.running;
  }

  private async loop(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let claimed = 0;
      try {
        claimed = await this.round();
        await this.prune();
      } catch (e) {
        this.deps.onError('webhook deliveries could not be read or recorded: trying again', e);
      }
      if (claimed < this.options.concurrency) await this.idle();
    }
  }

  /** Claims what is due, up to `concurrency`, and makes one attempt at each; answers how many. */
  private async round(): Promise<number> {
    const { store } = this.deps;
    const now = Date.now();
    const due = await store.claim(new Date(now).toISOString(), new Date(now + this.options.timeoutMs + LEASE_MARGIN_MS).toISOString(), this.options.concurrency);
    await Promise.all(due.map((d) => this.attempt(d)));
    return due.length;
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const started = new Date().toISOString();
    const stopping = this.stopping.signal;
    const outcome = await this.deps.send({ url: delivery.url, secret: delivery.secret, deliveryId: delivery.id, event: delivery.event, body: delivery.payload, signal: stopping });
    const result = afterAttempt({ policy: this.options.retry, delivery, outcome, now: Date.now() });
    // Cut short by a shutdown, it is not held against the receiver: due again at once.
    const settled: AttemptResult = stopping.aborted && outcome.error !== null ? { ...result, state: 'pending', next_attempt_at: new Date().toISOString() } : result;
    await this.deps.store.settle({ id: delivery.id, attempt: delivery.attempts, lastAttemptAt: started, result: settled });
  }

  /** Waits until the next delivery is due, the poll interval passes, or wake() is called. */
  private async idle(): Promise<void> {
    const woken = new AbortController();
    this.wakeUp = () => woken.abort();
    try {
      let waitMs = this.options.pollMs;
      const due = await this.deps.store.nextDue().catch(() => null); // the store is away: the next round says so
      if (due) waitMs = Math.max(0, Math.min(waitMs, Date.parse(due) - Date.now()));
      if (this.stopping.signal.aborted) return;
      await sleep(waitMs, undefined, { signal: woken.signal, ref: false }).catch(() => undefined);
    } finally {
      this.wakeUp = undefined;
    }
  }

  private async prune(): Promise<void> {
    if (Date.now() - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = Date.now();
    await this.deps.store.prune(new Date(Date.now() - this.options.keepMs).toISOString());
  }
}
