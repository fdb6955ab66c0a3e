/**
 * No request forgery through a webhook URL: loopback, private, link-local and other special-purpose
 * addresses are refused unless WEBHOOK_ALLOWED_NETWORKS allows them. The check is made on the address
 * actually connected to: the sender's `lookup` resolves the name, checks every address it gets and
 * hands the socket only checked ones (an IP literal in the URL, which Node connects to without a
 * lookup, is checked before). A name that resolves to a public address when the endpoint is created
 * and to 127.0.0.1 when it is used (DNS rebinding) is refused then.
 */
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Special-purpose ranges (RFC 6890 and its successors): nothing a public webhook receiver lives on. */
const SPECIAL_V4: [string, number][] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
];
const SPECIAL_V6: [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64: an IPv4 address behind it
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: an IPv4 address inside
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

const SPECIAL = new BlockList();
for (const [net, prefix] of SPECIAL_V4) SPECIAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of SPECIAL_V6) SPECIAL.addSubnet(net, prefix, 'ipv6');

export class ForbiddenAddressError extends Error {
  readonly code = 'EWEBHOOKADDRESS';
  constructor(host: string, address: string) {
    super(`${host} is ${address === host ? '' : `at ${address}, `}a loopback, private or link-local address: refused (WEBHOOK_ALLOWED_NETWORKS may allow it)`);
    this.name = 'ForbiddenAddressError';
  }
}

/** A URL's host as an address or name (an IPv6 literal without its brackets). */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

export class AddressGuard {
  private readonly allowed = new BlockList();

  /** `allowedNetworks`: CIDR ranges (`127.0.0.0/8`, `fd00::/8`) whose addresses may be reached all the same. */
  constructor(allowedNetworks: readonly string[] = []) {
    for (const cidr of allowedNetworks) {
      const [net = '', prefix] = cidr.split('/');
      const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
      this.allowed.addSubnet(net, Number(prefix ?? (family === 'ipv6' ? 128 : 32)), family);
    }
  }

  /** Whether a webhook may connect to this address. */
  permits(address: string): boolean {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    return !SPECIAL.check(address, family) || this.allowed.check(address, family);
  }

  /** Throws ForbiddenAddressError when `url` names a forbidden address literally (Node connects to one without a lookup). */
  checkLiteral(url: URL): void {
    const host = hostOf(url);
    if (isIP(host) && !this.permits(host)) throw new ForbiddenAddressError(host, host);
  }

  /** Resolves `url`'s host and throws ForbiddenAddressError when any address it has is forbidden (when an endpoint is saved). */
  async check(url: URL): Promise<void> {
    this.checkLiteral(url);
    const host = hostOf(url);
    if (isIP(host)) return;
    const addresses = await dns.promises.lookup(host, { all: true });
    const bad = addresses.find((a) => !this.permits(a.address));
    if (bad) throw new ForbiddenAddressError(host, bad.address);
  }

  /** A `lookup` for http.request: resolves as Node would, and fails when any address is forbidden. */
  readonly lookup: LookupFunction = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const bad = addresses.find((a) => !this.permits(a.address));
      if (bad) return callback(new ForbiddenAddressError(hostname, bad.address), []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
