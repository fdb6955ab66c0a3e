/**
 * Connections to Redis (REDIS_URL). Commands fail at once while Redis is unreachable (no offline queue:
 * nothing piles up in memory, and the request that needed Redis fails clearly); ioredis reconnects by
 * itself, with pub/sub subscriptions renewed.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis };

/** Retries every 0.2-2 s, for ever: Redis coming back is the normal end of an outage. */
const retryStrategy = (attempt: number) => Math.min(200 * attempt, 2000);

export function connectRedis(url: string, onError: (e: Error) => void, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy, lazyConnect: false, ...options });
  // Without a listener a lost connection would end the process; the error is told once per outage.
  let down = false;
  redis.on('error', (e: Error) => {
    if (!down) onError(e);
    down = true;
  });
  redis.on('ready', () => (down = false));
  return redis;
}

/** Options for BullMQ's own connections: its blocking workers need unlimited retries per request. */
export function bullConnection(url: string): BullRedisOptions {
  return { url, maxRetriesPerRequest: null, retryStrategy };
}

/** Resolves once the connection is ready (Redis answers), or rejects after `timeoutMs`. */
export async function ready(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
