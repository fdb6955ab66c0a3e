/** tRPC is initialised here, once; every procedure goes through the doors this file exports. */
import { initTRPC } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { DomainError, toTRPCError } from '../errors';
import type { Context } from './context';

const t = initTRPC.context<Context>().meta<OpenApiMeta>().create();

/** Domain errors thrown by services become the matching tRPC error (and so HTTP status). */
const mapDomainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw toTRPCError(result.error.cause);
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

export const router = t.router;
export const publicProcedure = t.procedure.use(mapDomainErrors);
export const createCallerFactory = t.createCallerFactory;
