/**
 * Rate limits a fleet's API nodes share: counted in Redis, so a client whose requests a load balancer
 * spreads over the nodes gets each limit once, not once per node. While Redis does not answer, each
 * node counts on its own, in memory, rather than refuse everyone or no one.
 */
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimits } from '../services/auth/authenticator';
import type { Redis } from './redis';

export function redisLimits(redis: Redis, prefix: string): RateLimits {
  return (name, points, duration) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:limit:${name}`, points, duration, insuranceLimiter: new RateLimiterMemory({ points, duration }) });
}
