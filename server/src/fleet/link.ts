/**
 * A node's link to its fleet (REDIS_URL): the Redis connections, the bus of run changes and stops, and
 * the fleet's tables in PostgreSQL. Imported only by a fleet's nodes: a single server never loads Redis.
 */
import type pg from 'pg';
import { ConfigError } from '../config';
import type { Log } from '../runtime';
import type { Stores } from '../store';
import { FleetStore } from './fleetStore';
import { connectRedis, ready, type Redis } from './redis';
import { RunBus } from './runBus';

export interface FleetLink {
  redis: Redis;
  subscriber: Redis;
  bus: RunBus;
  store: FleetStore;
  /** The fleet's PostgreSQL. */
  pool: pg.Pool;
  close(): void;
}

/** `server`: an API node (hears run changes); `worker`: hears stop requests too. */
export async function linkFleet({ url, prefix, stores, log, role }: { url: string; prefix: string; stores: Stores; log: Log; role: 'server' | 'worker' }): Promise<FleetLink> {
  if (!stores.pool) throw new ConfigError('a fleet (REDIS_URL) keeps its runs in PostgreSQL: set DATABASE_URL too');
  const onError = (e: Error) => log.error('Redis is unavailable (reconnecting)', e);
  const redis = connectRedis(url, onError);
  // Subscriptions are renewed on reconnect, so this connection may queue its SUBSCRIBE while Redis is away.
  const subscriber = connectRedis(url, onError, { enableOfflineQueue: true, maxRetriesPerRequest: null });
  await ready(redis).catch((e: unknown) => {
    redis.disconnect();
    subscriber.disconnect();
    throw new ConfigError(`REDIS_URL: ${(e as Error).message}`);
  });
  const bus = new RunBus({ publisher: redis, subscriber, prefix, onError: log.error });
  await bus.start({ stops: role === 'worker' });
  return {
    redis,
    subscriber,
    bus,
    store: new FleetStore(stores.pool),
    pool: stores.pool,
    close: () => {
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
