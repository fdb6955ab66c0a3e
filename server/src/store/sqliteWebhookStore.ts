/** Webhook endpoints and deliveries in the embedded SQLite database (one process: a claim is one statement). */
import type Database from 'better-sqlite3';
import type { DeliveryList, WebhookDelivery, WebhookFilter } from '../../../shared/src/schemas/webhook';
import { prepared, selectPage } from './sqliteDb';
import type { AttemptEnded, ClaimedDelivery, DeliveryFilter, NewDelivery, WebhookPatch, WebhookRecord, WebhookStore } from './webhookStore';

const ENDPOINT_COLUMNS = ['url', 'description', 'format', 'enabled', 'filter', 'secret', 'updated_at'] as const;

type EndpointRow = Omit<WebhookRecord, 'enabled' | 'filter'> & { enabled: number; filter: string };
type DeliveryRow = WebhookDelivery & { seq: number; payload: string };

const toEndpoint = ({ enabled, filter, ...rest }: EndpointRow): WebhookRecord => ({ ...rest, enabled: enabled === 1, filter: JSON.parse(filter) as WebhookFilter });
const toDelivery = ({ seq: _seq, payload: _payload, ...rest }: DeliveryRow): WebhookDelivery => rest;
const stored = (key: string, value: unknown) => (key === 'filter' ? JSON.stringify(value) : key === 'enabled' ? (value ? 1 : 0) : value);

export class SqliteWebhookStore implements WebhookStore {
  constructor(private readonly db: Database.Database) {}

  insert(endpoint: WebhookRecord): Promise<void> {
    const row = Object.fromEntries(Object.entries(endpoint).map(([k, v]) => [k, stored(k, v)]));
    prepared(this.db, 'INSERT INTO webhooks (id, url, description, format, enabled, filter, secret, created_at, created_by, updated_at) VALUES (@id, @url, @description, @format, @enabled, @filter, @secret, @created_at, @created_by, @updated_at)').run(row);
    return Promise.resolve();
  }

  update(id: string, patch: WebhookPatch): Promise<WebhookRecord | undefined> {
    const entries = ENDPOINT_COLUMNS.flatMap((k) => (patch[k] === undefined ? [] : [[k, stored(k, patch[k])] as const]));
    if (entries.length) prepared(this.db, `UPDATE webhooks SET ${entries.map(([k]) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({ id, ...Object.fromEntries(entries) });
    return this.get(id);
  }

  get(id: string): Promise<WebhookRecord | undefined> {
    const row = prepared(this.db, 'SELECT * FROM webhooks WHERE id = ?').get(id) as EndpointRow | undefined;
    return Promise.resolve(row && toEndpoint(row));
  }

  list(): Promise<WebhookRecord[]> {
    return Promise.resolve((prepared(this.db, 'SELECT * FROM webhooks ORDER BY created_at, id').all() as EndpointRow[]).map(toEndpoint));
  }

  remove(id: string): Promise<boolean> {
    return Promise.resolve(
      this.db.transaction(() => {
        prepared(this.db, 'DELETE FROM webhook_deliveries WHERE endpoint_id = ?').run(id);
        return prepared(this.db, 'DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
      })(),
    );
  }

  enqueue(deliveries: NewDelivery[]): Promise<number> {
    const insert = prepared(
      this.db,
      `INSERT INTO webhook_deliveries (id, endpoint_id, event, run_id, payload, state, created_at, next_attempt_at, redelivery_of)
       VALUES (@id, @endpoint_id, @event, @run_id, @payload, 'pending', @created_at, @next_attempt_at, @redelivery_of) ON CONFLICT DO NOTHING`,
    );
    return Promise.resolve(this.db.transaction(() => deliveries.reduce((n, d) => n + insert.run(d).changes, 0))());
  }

  deliveries(filter: DeliveryFilter): Promise<DeliveryList> {
    const { rows, next_cursor } = selectPage<DeliveryRow>(this.db, { table: 'webhook_deliveries', seq: 'seq', equals: { endpoint_id: filter.endpointId, state: filter.state }, cursor: filter.cursor, limit: filter.limit });
    return Promise.resolve({ items: rows.map(toDelivery), next_cursor });
  }

  getDelivery(id: string): Promise<(WebhookDelivery & { payload: string }) | undefined> {
    const row = prepared(this.db, 'SELECT * FROM webhook_deliveries WHERE id = ?').get(id) as DeliveryRow | undefined;
    if (!row) return Promise.resolve(undefined);
    return Promise.resolve({ ...toDelivery(row), payload: row.payload });
  }

  claim(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    const rows = prepared(
      this.db,
      `UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = @leaseUntil
       WHERE seq IN (SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.id = d.endpoint_id
                     WHERE d.state IN ('pending', 'sending') AND d.next_attempt_at <= @now AND w.enabled = 1
                     ORDER BY d.next_attempt_at LIMIT @limit)
       RETURNING *`,
    ).all({ now, leaseUntil, limit }) as DeliveryRow[];
    const endpoints = new Map<string, { url: string; secret: string }>();
    const target = prepared(this.db, 'SELECT url, secret FROM webhooks WHERE id = ?');
    return Promise.resolve(
      rows.map((row) => {
        const endpoint = endpoints.get(row.endpoint_id) ?? (target.get(row.endpoint_id) as { url: string; secret: string });
        endpoints.set(row.endpoint_id, endpoint);
        return { ...toDelivery(row), payload: row.payload, url: endpoint.url, secret: endpoint.secret };
      }),
    );
  }

  settle({ id, attempt, lastAttemptAt, result }: AttemptEnded): Promise<void> {
    prepared(
      this.db,
      `UPDATE webhook_deliveries SET state = @state, response_status = @response_status, error = @error, next_attempt_at = @next_attempt_at,
         delivered_at = @delivered_at, last_attempt_at = @lastAttemptAt WHERE id = @id AND attempts = @attempt AND state = 'sending'`,
    ).run({ id, attempt, lastAttemptAt, ...result });
    return Promise.resolve();
  }

  nextDue(): Promise<string | null> {
    const row = prepared(this.db, "SELECT MIN(d.next_attempt_at) AS due FROM webhook_deliveries d JOIN webhooks w ON w.id = d.endpoint_id WHERE d.state IN ('pending', 'sending') AND w.enabled = 1").get() as { due: string | null };
    return Promise.resolve(row.due);
  }

  prune(before: string): Promise<number> {
    return Promise.resolve(prepared(this.db, "DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND created_at < ?").run(before).changes);
  }
}
