/** tRPC is initialised here, once; every procedure goes through one of the doors this file exports. */
import { initTRPC } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { Role } from '../../../shared/src/schemas/auth';
import { asDomainError, DomainError, toTRPCError } from '../errors';
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

/** Errors thrown while a subscription iterates bypass middleware: map them the same way. */
export async function* mapStreamErrors<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (e) {
    throw toTRPCError(e);
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
      principal = auth.authorize(ctx.principal, role);
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
