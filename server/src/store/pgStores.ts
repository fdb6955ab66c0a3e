/**
 * The stores in PostgreSQL (DATABASE_URL). A module of its own, imported only when a DATABASE_URL is
 * set, so that a server on SQLite never loads `pg` (built, it is a chunk of its own).
 */
import type { Stores } from '.';
import { PgApiKeyStore, PgAuditStore, PgSettingsStore } from './pgAuthStore';
import { openPool, type DatabaseMode } from './pgDb';
import { PgRunStore } from './pgRunStore';
import { PgScheduleStore } from './pgScheduleStore';
import { PgWebhookStore } from './pgWebhookStore';

export async function openPgStores(url: string, mode: DatabaseMode): Promise<Stores> {
  const { pool, close } = await openPool(url, mode);
  return {
    pool,
    runs: new PgRunStore(pool),
    apiKeys: new PgApiKeyStore(pool),
    audit: new PgAuditStore(pool),
    settings: new PgSettingsStore(pool),
    schedules: new PgScheduleStore(pool),
    webhooks: new PgWebhookStore(pool),
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close,
  };
}
