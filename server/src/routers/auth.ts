import { z } from 'zod';
import { WhoAmI } from '../../../shared/src/schemas/auth';
import { toTRPCError } from '../errors';
import { publicProcedure, router } from '../trpc/init';

export const authRouter = router({
  me: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/me', tags: ['service'], summary: 'Who the server takes the caller for', protect: false, errorResponses: { 401: 'A credential that does not verify' } } })
    .input(z.void())
    .output(WhoAmI)
    .query(({ ctx }) => {
      if (ctx.authError) throw toTRPCError(ctx.authError);
      const p = ctx.principal;
      return { id: p?.id ?? null, role: p?.role ?? null, expires_at: p?.expiresAt ? new Date(p.expiresAt).toISOString() : null, auth_disabled: ctx.services.auth.disabled };
    }),
});
