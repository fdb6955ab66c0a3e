/** tRPC is initialised here, once; every procedure goes through one of the doors this file exports. */
import { initTRPC } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { Role } from '../../../shared/src/schemas/auth';
import { asDomainError, DomainError, toTRPCError } from '../errors';
import type { Principal } from '../services/auth/principal';
import type { Context } from './context';

const t = initTRPC
  .context<Context>()
  .meta<OpenApiMeta>()
  .create({
    // No stack traces in answers, whatever NODE_ENV says; Retry-After travels with a 429, and the
    // fields at fault with a 400 that names several.
    errorFormatter: ({ shape, error }) => {
      const { stack: _stack, ...data } = shape.data;
      const cause = error.cause instanceof DomainError ? error.cause : undefined;
      return { ...shape, data: { ...data, ...(cause?.retryAfterS ? { retryAfterS: cause.retryAfterS } : {}), ...(cause?.issues ? { issues: cause.issues } : {}) } };
    },
  });

/** Domain errors thrown by services become the matching tRPC error (and so HTTP status). */
const mapDomainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && asDomainError(result.error.cause)) throw toTRPCError(result.error.cause);
  return result;
});

/**
 * A subscription's stream, opened with the signal it runs until: the client goes, the server shuts
 * down, or the credential it was opened with stops verifying (then it ends with that 401, and a
 * WebSocket is closed with 4401). Errors thrown while it iterates bypass middleware: they are mapped
 * here the same way.
 */
export async function* guardStream<T>(
  ctx: Context & { principal: Principal },
  signal: AbortSignal | undefined,
  open: (stop: AbortSignal) => AsyncIterable<T>,
): AsyncGenerator<T> {
  const ended = new AbortController();
  const lost = ctx.services.auth.watch(ctx.principal, ended.signal);
  const stop = AbortSignal.any([ctx.services.stopping, lost, ...(signal ? [signal] : [])]);
  try {
    yield* open(stop);
  } catch (e) {
    if (!lost.aborted) throw toTRPCError(e);
  } finally {
    ended.abort();
  }
  const reason = asDomainError(lost.reason);
  if (reason) {
    ctx.credentialLost(reason);
    throw toTRPCError(reason);
  }
}

/** The caller as they stand now: a connection outlives the check of its credential, so look again (through a cache of a few seconds). */
async function currentPrincipal(ctx: Context): Promise<Principal | null> {
  if (!ctx.principal) return null;
  try {
    return await ctx.services.auth.recheck(ctx.principal);
  } catch (e) {
    const domain = asDomainError(e);
    if (domain) ctx.credentialLost(domain);
    throw e;
  }
}

const runIdOf = (value: unknown): string | null => {
  const v = value as { run_id?: unknown; run?: { run_id?: unknown } } | undefined;
  const id = v?.run_id ?? v?.run?.run_id;
  return typeof id === 'string' ? id : null;
};

/**
 * Lets only callers with `role` through (401 without a credential, 403 below the role), and writes
 * every refusal and every mutation's outcome to the audit log.
 */
function requireRole(role: Role) {
  return t.middleware(async ({ ctx, next, path, type, getRawInput }) => {
    const { auth, audit } = ctx.services;
    const runId = runIdOf(await getRawInput().catch(() => undefined));
    // A credential that failed is in the audit log already, once, from authenticating it.
    if (ctx.authError) throw toTRPCError(ctx.authError);
    let principal;
    try {
      principal = auth.authorize(await currentPrincipal(ctx), role);
    } catch (e) {
      audit.record({ actor: ctx.principal?.id ?? null, ip: ctx.ip, action: path, run_id: runId, outcome: 'denied', detail: (e as Error).message });
      throw toTRPCError(e);
    }
    const result = await next({ ctx: { ...ctx, principal } });
    if (type === 'mutation') {
      const outcome = result.ok ? 'ok' : 'error';
      const detail = result.ok ? null : result.error.message;
      audit.record({ actor: principal.id, ip: ctx.ip, action: path, run_id: runId ?? (result.ok ? runIdOf(result.data) : null), outcome, detail });
    }
    return result;
  });
}

export const router = t.router;
export const publicProcedure = t.procedure.use(mapDomainErrors);
export const viewerProcedure = publicProcedure.use(requireRole('viewer'));
export const operatorProcedure = publicProcedure.use(requireRole('operator'));
export const adminProcedure = publicProcedure.use(requireRole('admin'));
export const createCallerFactory = t.createCallerFactory;
