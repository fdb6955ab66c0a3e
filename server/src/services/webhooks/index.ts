/**
 * Webhooks put together from the configuration: main.ts calls createWebhooks once, hands the service
 * to the transports, starts it once the server listens (its address is the links' default) and stops
 * it at shutdown. It runs wherever runs are served (a single server, each API node of a fleet).
 */
import type { Run } from '../../../../shared/src/schemas/run';
import type { Config } from '../../config';
import type { WebhookStore } from '../../store/webhookStore';
import { AddressGuard } from './addressGuard';
import { DeliveryWorker } from './deliveryWorker';
import { createSender } from './sender';
import { WebhookService } from './webhookService';

export { WebhookService } from './webhookService';

type WebhookConfig = Pick<
  Config,
  | 'APP_NAME'
  | 'PUBLIC_URL'
  | 'WEBHOOK_ALLOWED_NETWORKS'
  | 'WEBHOOK_TIMEOUT_S'
  | 'WEBHOOK_RETRY_BASE_S'
  | 'WEBHOOK_RETRY_MAX_INTERVAL_S'
  | 'WEBHOOK_RETRY_FOR_S'
  | 'WEBHOOK_POLL_S'
  | 'WEBHOOK_CONCURRENCY'
  | 'WEBHOOK_DELIVERY_RETENTION_DAYS'
>;

export interface Webhooks {
  service: WebhookService;
  /** Begins sending, follows run ends from `changes`, and catches up with `recent` runs' ends. */
  start(listenUrl: string, changes: AsyncIterable<Run>, recent: () => Promise<Run[]>): void;
  /** Stops sending (attempts under way end first); deliveries not yet made wait for the next start. */
  stop(): Promise<void>;
}

export function createWebhooks(config: WebhookConfig, deps: { store: WebhookStore; version: string; onError: (message: string, e: unknown) => void }): Webhooks {
  const guard = new AddressGuard(config.WEBHOOK_ALLOWED_NETWORKS);
  const timeoutMs = config.WEBHOOK_TIMEOUT_S * 1000;
  const send = createSender({ guard, timeoutMs, userAgent: `OSS-Runner-Webhook/${deps.version}` });
  const worker = new DeliveryWorker(
    { store: deps.store, send, onError: deps.onError },
    {
      retry: { baseMs: config.WEBHOOK_RETRY_BASE_S * 1000, maxIntervalMs: config.WEBHOOK_RETRY_MAX_INTERVAL_S * 1000, giveUpAfterMs: config.WEBHOOK_RETRY_FOR_S * 1000 },
      concurrency: config.WEBHOOK_CONCURRENCY,
      pollMs: config.WEBHOOK_POLL_S * 1000,
      timeoutMs,
      keepMs: config.WEBHOOK_DELIVERY_RETENTION_DAYS * 24 * 3600 * 1000,
    },
  );
  let publicUrl = config.PUBLIC_URL ?? '';
  const service = new WebhookService(
    { store: deps.store, guard, wake: () => worker.wake(), onError: deps.onError },
    { appName: config.APP_NAME, publicUrl: () => publicUrl, catchUpMs: config.WEBHOOK_RETRY_FOR_S * 1000 },
  );
  return {
    service,
    start(listenUrl, changes, recent) {
      publicUrl ||= listenUrl;
      worker.start();
      void service.follow(changes);
      recent()
        .then((runs) => service.catchUp(runs))
        .catch((e: unknown) => deps.onError('catching up with the webhook deliveries of recent runs failed', e));
    },
    stop: () => worker.stop(),
  };
}
