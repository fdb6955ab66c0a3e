/**
 * Webhook endpoints and deliveries in PostgreSQL: the same behaviour as the SQLite store. Several API
 * nodes claim due deliveries at once; `FOR UPDATE SKIP LOCKED` gives each row to one of them.
 */
import type pg from 'pg';
import type { DeliveryList, WebhookDelivery } from '../../../shared/src/schemas/webhook';
import { selectPagePg, withoutNul } from './pgDb';
import type { AttemptEnded, ClaimedDelivery, DeliveryFilter, NewDelivery, WebhookPatch, WebhookRecord, WebhookStore } from './webhookStore';

const ENDPOINT_COLUMNS = ['url', 'description', 'format', 'enabled', 'filter', 'secret', 'updated_at'] as const;

type DeliveryRow = WebhookDelivery & { seq: number; payload: string };

const toDelivery = ({ seq: _seq, payload: _payload, ...rest }: DeliveryRow): WebhookDelivery => rest;
const stored = (key: string, value: unknown) => (key === 'filter' ? JSON.stringify(withoutNul(value)) : withoutNul(value));
/** An id with a NUL in it names nothing (PostgreSQL could not even compare it). */
const impossible = (id: string) => id.includes('\0');

export class PgWebhookStore implements WebhookStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(e: WebhookRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO webhooks (id, url, description, format, enabled, filter, secret, created_at, created_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      withoutNul([e.id, e.url, e.description, e.format, e.enabled, JSON.stringify(e.filter), e.secret, e.created_at, e.created_by, e.updated_at]),
    );
  }

  async update(id: string, patch: WebhookPatch): Promise<WebhookRecord | undefined> {
    if (impossible(id)) return undefined;
    const entries = ENDPOINT_COLUMNS.flatMap((k) => (patch[k] === undefined ? [] : [[k, stored(k, patch[k])] as const]));
    if (entries.length) await this.pool.query(`UPDATE webhooks SET ${entries.map(([k], i) => `${k} = $${i + 2}`).join(', ')} WHERE id = $1`, [id, ...entries.map(([, v]) => v)]);
    return this.get(id);
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    if (impossible(id)) return undefined;
    return (await this.pool.query<WebhookRecord>('SELECT * FROM webhooks WHERE id = $1', [id])).rows[0];
  }

  async list(): Promise<WebhookRecord[]> {
    return (await this.pool.query<WebhookRecord>('SELECT * FROM webhooks ORDER BY created_at, id')).rows;
  }

  async remove(id: string): Promise<boolean> {
    if (impossible(id)) return false;
    // Its deliveries go with it (ON DELETE CASCADE).
    return ((await this.pool.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async enqueue(deliveries: NewDelivery[]): Promise<number> {
    if (!deliveries.length) return 0;
    const columns = ['id', 'endpoint_id', 'event', 'run_id', 'payload', 'created_at', 'next_attempt_at', 'redelivery_of'] as const;
    const values = deliveries.flatMap((d) => columns.map((c) => withoutNul(d[c])));
    const rows = deliveries.map((_, r) => `(${columns.map((_c, i) => `$${r * columns.length + i + 1}`).join(', ')}, 'pending')`);
    const { rowCount } = await this.pool.query(`INSERT INTO webhook_deliveries (${columns.join(', ')}, state) VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING`, values);
    return rowCount ?? 0;
  }

  async deliveries(filter: DeliveryFilter): Promise<DeliveryList> {
    const { rows, next_cursor } = await selectPagePg<DeliveryRow>(this.pool, { table: 'webhook_deliveries', seq: 'seq', equals: { endpoint_id: filter.endpointId, state: filter.state }, cursor: filter.cursor, limit: filter.limit });
    return { items: rows.map(toDelivery), next_cursor };
  }

  async getDelivery(id: string): Promise<(WebhookDelivery & { payload: string }) | undefined> {
    if (impossible(id)) return undefined;
    const row = (await this.pool.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = $1', [id])).rows[0];
    return row && { ...toDelivery(row), payload: row.payload };
  }

  async claim(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query<DeliveryRow & { url: string; secret: string }>(
      `UPDATE webhook_deliveries d SET state = 'sending', attempts = d.attempts + 1, next_attempt_at = $2
       FROM webhooks w
       WHERE w.id = d.endpoint_id AND d.seq IN (
         SELECT d2.seq FROM webhook_deliveries d2 JOIN webhooks w2 ON w2.id = d2.endpoint_id
         WHERE d2.state IN ('pending', 'sending') AND d2.next_attempt_at <= $1 AND w2.enabled
         ORDER BY d2.next_attempt_at LIMIT $3 FOR UPDATE OF d2 SKIP LOCKED)
       RETURNING d.*, w.url, w.secret`,
      [now, leaseUntil, limit],
    );
    return rows.map(({ url, secret, ...row }) => ({ ...toDelivery(row), payload: row.payload, url, secret }));
  }

  async settle({ id, attempt, lastAttemptAt, result: r }: AttemptEnded): Promise<void> {
    await this.pool.query(
      `UPDATE webhook_deliveries SET state = $3, response_status = $4, error = $5, next_attempt_at = $6, delivered_at = $7, last_attempt_at = $8
       WHERE id = $1 AND attempts = $2 AND state = 'sending'`,
      [id, attempt, r.state, r.response_status, withoutNul(r.error), r.next_attempt_at, r.delivered_at, lastAttemptAt],
    );
  }

  async nextDue(): Promise<string | null> {
    const { rows } = await this.pool.query<{ due: string | null }>(
      "SELECT MIN(d.next_attempt_at) AS due FROM webhook_deliveries d JOIN webhooks w ON w.id = d.endpoint_id WHERE d.state IN ('pending', 'sending') AND w.enabled",
    );
    return rows[0]?.due ?? null;
  }

  async prune(before: string): Promise<number> {
    return (await this.pool.query("DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'failed') AND created_at < $1", [before])).rowCount ?? 0;
  }
}
