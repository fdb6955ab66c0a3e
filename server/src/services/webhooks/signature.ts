/**
 * How deliveries are signed, the way GitHub and Stripe sign theirs: HMAC-SHA256, keyed with the
 * endpoint's secret, over `<unix time>.<body>`, sent as `X-OSS-Runner-Signature: t=<unix time>,v1=<hex>`.
 * The time is inside what is signed, so a receiver that refuses old times refuses replays too.
 * docs/notifications.md shows how to verify it (Node, and a shell with openssl).
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-oss-runner-signature';

/** A new signing secret: 32 random bytes, with a prefix that says what it is. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/** The signature header's value for `body` sent at `unixS`. */
export function signature(secret: string, body: string, unixS: number): string {
  const hmac = createHmac('sha256', secret).update(`${unixS}.${body}`).digest('hex');
  return `t=${unixS},v1=${hmac}`;
}
