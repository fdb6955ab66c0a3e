/**
 * Webhook endpoints as admins manage them (the signing secret shown once), the deliveries owed to
 * them, and the one event they hear of: a run's end. Each ended run is matched against every enabled
 * endpoint's filter and a delivery recorded for each match; the DeliveryWorker sends them. Knows
 * nothing of tRPC or HTTP.
 */
import { randomUUID } from 'node:crypto';
import { isFinal, type Run } from '../../../../shared/src/schemas/run';
import {
  CreateWebhookInput,
  DeliveryListInput,
  type DeliveryList,
  type CreatedWebhook,
  UpdateWebhookInput,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../../../../shared/src/schemas/webhook';
import { badRequest, notFound } from '../../errors';
import { InvalidCursorError } from '../../store/cursor';
import type { NewDelivery, WebhookRecord, WebhookStore } from '../../store/webhookStore';
import { ForbiddenAddressError, type AddressGuard } from './addressGuard';
import { matches } from './filter';
import { runEndedBody, runLinks } from './payload';
import { newSecret } from './signature';

/** Runs whose end was just handled: a run's record changes after its end too (S3 archiving), and that is not a second end. */
const REMEMBERED_ENDS = 1000;

const now = () => new Date().toISOString();

/** An endpoint as the API answers it: without its secret. */
const shown = ({ secret: _secret, ...endpoint }: WebhookRecord): WebhookEndpoint => endpoint;

export interface WebhookServiceOptions {
  appName: string;
  /** Where people reach this server (PUBLIC_URL, or the address it listens on): the links in deliveries. */
  publicUrl: () => string;
  /** Runs that ended longer ago than this are not caught up at start. */
  catchUpMs: number;
}

export class WebhookService {
  private readonly handled = new Set<string>();

  constructor(
    private readonly deps: { store: WebhookStore; guard: AddressGuard; wake: () => void; onError: (message: string, e: unknown) => void },
    private readonly options: WebhookServiceOptions,
  ) {}

  async create(input: CreateWebhookInput, createdBy: string | null): Promise<CreatedWebhook> {
    const parsed = CreateWebhookInput.parse(input);
    await this.checkUrl(parsed.url);
    const at = now();
    const record: WebhookRecord = { id: `wh_${randomUUID().replaceAll('-', '').slice(0, 16)}`, ...parsed, secret: newSecret(), created_at: at, created_by: createdBy, updated_at: at };
    await this.deps.store.insert(record);
    return { endpoint: shown(record), secret: record.secret };
  }

  async list(): Promise<WebhookEndpoint[]> {
    return (await this.deps.store.list()).map(shown);
  }

  async get(id: string): Promise<WebhookEndpoint> {
    return shown(await this.record(id));
  }

  async update(input: UpdateWebhookInput): Promise<WebhookEndpoint> {
    const { id, ...patch } = UpdateWebhookInput.parse(input);
    await this.record(id);
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const updated = await this.deps.store.update(id, { ...patch, updated_at: now() });
    if (!updated) throw notFound(`id: no webhook "${id}"`);
    this.deps.wake(); // re-enabled: what waited may be due
    return shown(updated);
  }

  /** A new signing secret, shown this once; the old one stops signing at once. */
  async rotateSecret(id: string): Promise<CreatedWebhook> {
    await this.record(id);
    const secret = newSecret();
    const updated = await this.deps.store.update(id, { secret, updated_at: now() });
    if (!updated) throw notFound(`id: no webhook "${id}"`);
    return { endpoint: shown(updated), secret };
  }

  async remove(id: string): Promise<WebhookEndpoint> {
    const record = await this.record(id);
    if (!(await this.deps.store.remove(id))) throw notFound(`id: no webhook "${id}"`);
    return shown(record);
  }

  async deliveries(input: DeliveryListInput): Promise<DeliveryList> {
    const filter = DeliveryListInput.parse(input);
    await this.record(filter.id);
    try {
      return await this.deps.store.deliveries({ endpointId: filter.id, state: filter.state, limit: filter.limit, cursor: filter.cursor });
    } catch (e) {
      if (e instanceof InvalidCursorError) throw badRequest(`cursor: ${e.message}`);
      throw e;
    }
  }

  /** Sends a delivery's body again, as a new delivery (its own id, attempts and retries). */
  async redeliver(id: string, deliveryId: string): Promise<WebhookDelivery> {
    await this.record(id);
    const original = await this.deps.store.getDelivery(deliveryId);
    if (original?.endpoint_id !== id) throw notFound(`delivery_id: webhook "${id}" has no delivery "${deliveryId}"`);
    const at = now();
    const delivery: NewDelivery = {
      id: randomUUID(),
      endpoint_id: id,
      event: original.event,
      run_id: original.run_id,
      payload: original.payload,
      created_at: at,
      next_attempt_at: at,
      redelivery_of: original.redelivery_of ?? original.id,
    };
    await this.deps.store.enqueue([delivery]);
    this.deps.wake();
    const made = await this.deps.store.getDelivery(delivery.id);
    if (!made) throw notFound(`delivery_id: no delivery "${delivery.id}"`);
    const { payload: _payload, ...shownDelivery } = made;
    return shownDelivery;
  }

  /**
   * Follows run changes (every node's, on a fleet) until they end: each run seen ending gets its
   * deliveries. Several API nodes hearing the same end record it once (the store keeps one first
   * delivery per endpoint and run).
   */
  async follow(changes: AsyncIterable<Run>): Promise<void> {
    for await (const run of changes) {
      if (!isFinal(run.status) || this.handled.has(run.run_id)) continue;
      await this.runEnded(run).catch((e: unknown) => this.deps.onError(`recording the webhook deliveries of run ${run.run_id} failed`, e));
    }
  }

  /** Runs that ended while no server heard it (a crash between a run's end and its deliveries, every API node down): caught up at start. */
  async catchUp(recent: Run[]): Promise<void> {
    const since = Date.now() - this.options.catchUpMs;
    const ended = recent.filter((run) => isFinal(run.status) && run.finished_at && Date.parse(run.finished_at) >= since);
    if (!ended.length) return;
    const endpoints = await this.deps.store.list();
    for (const run of ended) await this.runEnded(run, endpoints);
  }

  /** Records a delivery to each enabled endpoint whose filter the ended run matches (and that existed when it ended). */
  async runEnded(run: Run, endpoints?: WebhookRecord[]): Promise<number> {
    const listening = (endpoints ?? (await this.deps.store.list())).filter((e) => e.enabled && (!run.finished_at || run.finished_at >= e.created_at) && matches(e.filter, run));
    const at = now();
    const links = runLinks(this.options.publicUrl(), run.run_id);
    const made = await this.deps.store.enqueue(
      listening.map((e) => ({
        id: randomUUID(),
        endpoint_id: e.id,
        event: 'run.ended' as const,
        run_id: run.run_id,
        payload: runEndedBody({ format: e.format, run, links, appName: this.options.appName }),
        created_at: at,
        next_attempt_at: at,
        redelivery_of: null,
      })),
    );
    this.remember(run.run_id);
    if (made) this.deps.wake();
    return made;
  }

  private remember(runId: string): void {
    this.handled.add(runId);
    if (this.handled.size > REMEMBERED_ENDS) this.handled.delete(this.handled.values().next().value ?? runId);
  }

  private async record(id: string): Promise<WebhookRecord> {
    const record = await this.deps.store.get(id);
    if (!record) throw notFound(`id: no webhook "${id}"`);
    return record;
  }

  /**
   * A URL that names a forbidden address, literally or through DNS now, is refused when saved (a name
   * that does not resolve yet is not: its deliveries say so). The sender checks again on every connection.
   */
  private async checkUrl(url: string): Promise<void> {
    try {
      await this.deps.guard.check(new URL(url));
    } catch (e) {
      if (e instanceof ForbiddenAddressError) throw badRequest(`url: ${e.message}`);
    }
  }
}
