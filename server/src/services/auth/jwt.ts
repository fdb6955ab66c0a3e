/**
 * JWT verification with jose. The algorithm is pinned to the key type: HS256 only with
 * AUTH_JWT_SECRET, RS256/ES256/EdDSA only with keys from AUTH_JWKS_URL (fetched, cached, refreshed
 * when an unknown `kid` appears). `exp` is required; `nbf` and `iat` are honoured within a small clock
 * tolerance; `iss` and `aud` are checked when configured.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { Role } from '../../../../shared/src/schemas/auth';
import { expiryOf, type Principal } from './principal';

export interface JwtOptions {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  clockToleranceS: number;
  jwksCooldownS: number;
}

const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'];

export class JwtError extends Error {}

/** The highest role named by a `role` claim or a `roles` array; null when none is known. */
export function roleOf(payload: JWTPayload): Role | null {
  const roles: unknown[] = Array.isArray(payload.roles) ? payload.roles : [];
  const claimed = [payload.role, ...roles];
  const known = Role.options.filter((r) => claimed.includes(r));
  return known.at(-1) ?? null;
}

export class JwtVerifier {
  private readonly secret: Uint8Array | undefined;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(private readonly options: JwtOptions) {
    this.secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
    this.jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: options.jwksCooldownS * 1000, cacheMaxAge: 10 * 60_000 }) : undefined;
  }

  get enabled(): boolean {
    return Boolean(this.secret ?? this.jwks);
  }

  looksLikeJwt(credential: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
  }

  async verify(token: string): Promise<Principal> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new JwtError('the token is not a JWT');
    }
    const common = {
      requiredClaims: ['exp'],
      clockTolerance: this.options.clockToleranceS,
      ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience ? { audience: this.options.audience } : {}),
    };
    try {
      let payload: JWTPayload;
      if (alg === 'HS256' && this.secret) payload = (await jwtVerify(token, this.secret, { ...common, algorithms: ['HS256'] })).payload;
      else if (alg && ASYMMETRIC.includes(alg) && this.jwks) payload = (await jwtVerify(token, this.jwks, { ...common, algorithms: ASYMMETRIC })).payload;
      else throw new JwtError(`tokens signed with ${alg ?? 'no algorithm'} are not accepted here`);
      // Good until exp plus the tolerance that verification allowed; a WebSocket is closed then.
      return { id: `jwt:${payload.sub ?? 'unknown'}`, role: roleOf(payload), expiresAt: expiryOf(payload.exp ?? 0, this.options.clockToleranceS) };
    } catch (e) {
      if (e instanceof JwtError) throw e;
      if (e instanceof errors.JWTExpired) throw new JwtError('the token has expired');
      if (e instanceof errors.JWTClaimValidationFailed) throw new JwtError(`the token's ${e.claim} claim is not acceptable (${e.reason})`);
      throw new JwtError('the token could not be verified');
    }
  }
}
