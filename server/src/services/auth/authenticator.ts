/**
 * Turns a credential (an API key, ADMIN_API_KEY or a JWT) into a principal, the same way for every
 * transport, and keeps the limits on abuse: failed authentications per address, starts per credential.
 * A principal that outlives the request that verified it (a WebSocket, a stream, a log token) is
 * checked again: before each operation, and every half AUTH_RECHECK_S while a stream is open.
 */
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { hasRole, type Role } from '../../../../shared/src/schemas/auth';
import { DomainError, forbidden, tooMany, unauthorized } from '../../errors';
import type { AuditLog } from '../audit';
import { keyIdOf, safeEqual, type ApiKeyService } from './apiKeys';
import { JwtError, type JwtVerifier } from './jwt';
import type { Principal } from './principal';

export interface AuthOptions {
  disabled: boolean;
  adminApiKey?: string | undefined;
  /** Failed authentications an address may make per minute before it is refused (429). */
  authFailuresPerMinute: number;
  /** The window those failures are counted over, in seconds (60): an address over the limit waits out the rest of it. */
  authFailuresWindowS: number;
  /** Runs one credential may start per minute. */
  startsPerMinute: number;
  /** A credential that stops verifying loses its power on open connections within this many ms. */
  recheckMs: number;
  /** Told of every credential that does not verify (metrics). */
  onFailure?: () => void;
  /** Where the limits are counted (default: in this process's memory). */
  limits?: RateLimits;
}

/**
 * Makes a named limit of `points` per `durationS`, keyed by address or credential: counted in memory on
 * a single server; on a fleet in Redis (fleet/rateLimits.ts), once for all its API nodes.
 */
export type RateLimits = (name: string, points: number, durationS: number) => RateLimiterAbstract;

export const memoryLimits: RateLimits = (_name, points, duration) => new RateLimiterMemory({ points, duration });

const ANONYMOUS: Principal = { id: 'anonymous', role: 'admin', expiresAt: null };

const retryAfter = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/** Where credentials are checked (stored API keys, JWTs) and where what happens to them is recorded. */
export interface AuthenticatorDeps {
  apiKeys: ApiKeyService;
  jwt: JwtVerifier;
  audit: AuditLog;
}

export class Authenticator {
  private readonly failures: RateLimiterAbstract;
  private readonly starts: RateLimiterAbstract;

  private readonly apiKeys: ApiKeyService;
  private readonly jwt: JwtVerifier;
  private readonly audit: AuditLog;

  constructor(
    { apiKeys, jwt, audit }: AuthenticatorDeps,
    private readonly options: AuthOptions,
  ) {
    this.apiKeys = apiKeys;
    this.jwt = jwt;
    this.audit = audit;
    const limits = options.limits ?? memoryLimits;
    this.failures = limits('auth-failures', options.authFailuresPerMinute, options.authFailuresWindowS);
    this.starts = limits('starts', options.startsPerMinute, 60);
  }

  get disabled(): boolean {
    return this.options.disabled;
  }

  /** Whether any way to authenticate is configured besides stored API keys. */
  get configured(): boolean {
    return this.options.disabled || Boolean(this.options.adminApiKey) || this.jwt.enabled;
  }

  /**
   * The principal for a credential, null when none was sent. A credential that does not verify is a
   * 401 (and counts against the address); an address with too many failures gets 429 for a while.
   */
  async authenticate(credential: string | null, ip: string | null): Promise<Principal | null> {
    if (this.options.disabled) return ANONYMOUS;
    if (!credential) return null;
    const address = ip ?? 'unknown';
    const record = await this.failures.get(address);
    if (record && record.consumedPoints >= this.options.authFailuresPerMinute) {
      throw tooMany('too many failed authentications from this address; try again later', retryAfter(record));
    }
    let reason = 'not a known API key or a verifiable JWT';
    let principal: Principal | null = null;
    if (this.options.adminApiKey && safeEqual(credential, this.options.adminApiKey)) principal = { id: 'env:ADMIN_API_KEY', role: 'admin', expiresAt: null };
    else if (this.apiKeys.looksLikeKey(credential)) principal = await this.apiKeys.verify(credential);
    else if (this.jwt.enabled && this.jwt.looksLikeJwt(credential)) {
      try {
        principal = await this.jwt.verify(credential);
      } catch (e) {
        if (!(e instanceof JwtError)) throw e;
        reason = e.message;
      }
    }
    if (principal) return principal;
    await this.failures.consume(address).catch(() => undefined);
    this.options.onFailure?.();
    this.audit.record({ actor: null, ip, action: 'auth', outcome: 'denied', detail: `invalid credentials: ${reason}` });
    throw unauthorized(`invalid credentials: ${reason}`);
  }

  /**
   * `principal` as it stands now: 401 once its API key has been revoked (or its token has expired); an
   * API key's role is the one its record has now. API key records are read again at most every half
   * AUTH_RECHECK_S. ADMIN_API_KEY holds until the server restarts without it, a JWT until it expires.
   */
  async recheck(principal: Principal): Promise<Principal> {
    if (principal.expiresAt !== null && principal.expiresAt <= Date.now()) throw unauthorized('invalid credentials: the token has expired');
    const keyId = keyIdOf(principal.id);
    if (!keyId) return principal;
    const role = await this.apiKeys.currentRole(keyId);
    if (!role) throw unauthorized('invalid credentials: the API key has been revoked');
    // A log token stays a viewer of its one run, whatever its key's role.
    return principal.runId === undefined ? { ...principal, role } : principal;
  }

  /**
   * A signal that aborts, with the 401 as its reason, once `principal` no longer verifies; checked
   * every half AUTH_RECHECK_S (as long as key records are cached), so within AUTH_RECHECK_S, until
   * `until` aborts. A failure to read the store ends nothing: the next check tries again.
   */
  watch(principal: Principal, until: AbortSignal): AbortSignal {
    const lost = new AbortController();
    const timer = setInterval(() => {
      this.recheck(principal).catch((e: unknown) => {
        if (e instanceof DomainError) lost.abort(e);
      });
    }, this.options.recheckMs / 2).unref();
    const stop = () => clearInterval(timer);
    if (until.aborted) stop();
    until.addEventListener('abort', stop, { once: true });
    lost.signal.addEventListener('abort', stop, { once: true });
    return lost.signal;
  }

  /** Throws 401 without a principal (or with an expired one) and 403 when its role is below `role`. */
  authorize(principal: Principal | null, role: Role, runId?: string | null): Principal {
    if (!principal) throw unauthorized('credentials required: send Authorization: Bearer <API key or JWT>, or X-API-Key: <key>');
    if (principal.expiresAt !== null && principal.expiresAt <= Date.now()) throw unauthorized('invalid credentials: the token has expired');
    if (principal.runId !== undefined && principal.runId !== runId) throw forbidden('this token is only good for the log of another run');
    if (!hasRole(principal.role, role)) throw forbidden(`this needs the ${role} role; the credential has ${principal.role ? `the ${principal.role} role` : 'no role'}`);
    return principal;
  }

  /** Counts a start against the credential's rate limit; 429 past it. */
  async countStart(principal: Principal): Promise<void> {
    try {
      await this.starts.consume(principal.id);
    } catch (e) {
      if (e instanceof RateLimiterRes) throw tooMany(`too many runs started with this credential (${this.options.startsPerMinute} a minute); try again later`, retryAfter(e));
      throw e;
    }
  }
}
