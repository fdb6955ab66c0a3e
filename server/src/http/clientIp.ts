/**
 * The caller's address. Behind reverse proxies listed in TRUSTED_PROXIES, it is the nearest address in
 * X-Forwarded-For that is not one of them; from anyone else the header is ignored (it is easy to forge).
 */
import type { IncomingMessage } from 'node:http';

/** IPv4 peers on a dual-stack socket arrive as ::ffff:a.b.c.d. */
export const plainIp = (ip: string) => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip);

export function clientIpResolver(trustedProxies: readonly string[]): (req: IncomingMessage) => string | null {
  const trusted = new Set(trustedProxies.map(plainIp));
  return (req) => {
    // A request whose connection is already gone has no socket any more.
    const peer = (req.socket as IncomingMessage['socket'] | null)?.remoteAddress;
    if (!peer) return null;
    let ip = plainIp(peer);
    if (!trusted.has(ip)) return ip;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => plainIp(h.trim())).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      ip = hops[i] ?? ip;
      if (!trusted.has(ip)) return ip;
    }
    return ip;
  };
}
