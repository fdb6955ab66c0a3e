/**
 * Short-lived tokens bound to one run, for the browser's EventSource (which cannot send headers) and
 * download links: a long-lived key never goes into a URL. HS256 JWTs signed with a random secret kept
 * in the database, so they hold across restarts and across API nodes sharing it. Their `sub` is the
 * principal that asked for one (`key:<id>` for an API key): the token is refused once that key is
 * revoked (Authenticator.recheck).
 */
import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { LogToken } from '../../../../shared/src/schemas/auth';
import type { SettingsStore } from '../../store/authStore';
import { expiryOf, type Principal } from './principal';

const AUDIENCE = 'oss-runner:run-log';

export class LogTokenService {
  private secret: Promise<Uint8Array> | undefined;

  constructor(
    private readonly settings: SettingsStore,
    private readonly ttlS: number,
  ) {}

  private key(): Promise<Uint8Array> {
    this.secret ??= this.settings.getOrInit('log_token_secret', () => randomBytes(32).toString('base64url')).then((s) => Buffer.from(s, 'base64url'));
    return this.secret;
  }

  async issue(runId: string, to: Principal): Promise<LogToken> {
    const exp = Math.floor(Date.now() / 1000) + this.ttlS;
    const token = await new SignJWT({ run_id: runId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(to.id)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(await this.key());
    return { token, expires_at: new Date(exp * 1000).toISOString() };
  }

  /** A viewer principal limited to `runId`, or null when the token is not one for that run. */
  async verify(token: string, runId: string): Promise<Principal | null> {
    try {
      const { payload } = await jwtVerify(token, await this.key(), { algorithms: ['HS256'], audience: AUDIENCE, requiredClaims: ['exp', 'sub'] });
      if (payload.run_id !== runId) return null;
      return { id: payload.sub ?? 'unknown', role: 'viewer', expiresAt: expiryOf(payload.exp ?? 0), runId };
    } catch {
      return null;
    }
  }
}
