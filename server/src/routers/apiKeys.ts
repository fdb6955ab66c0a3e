import { z } from 'zod';
import { ApiKey, ApiKeyIdInput, ApiKeyList, CreateApiKeyInput, CreatedApiKey } from '../../../shared/src/schemas/auth';
import { adminProcedure, router } from '../trpc/init';

const errors = { 401: 'No credential, or one that does not verify', 403: 'Needs the admin role' };

export const apiKeysRouter = router({
  create: adminProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api-keys',
        tags: ['api keys'],
        summary: 'Create an API key',
        description: 'The answer carries the key once; only its hash is stored. Needs the admin role.',
        errorResponses: { 400: 'Invalid name or role', ...errors },
      },
    })
    .input(CreateApiKeyInput)
    .output(CreatedApiKey)
    .mutation(({ ctx, input }) => ctx.services.apiKeys.create(input.name, input.role, ctx.principal.id)),

  list: adminProcedure
    .meta({ openapi: { method: 'GET', path: '/api-keys', tags: ['api keys'], summary: 'API keys, without their secrets', description: 'Needs the admin role.', errorResponses: errors } })
    .input(z.void())
    .output(ApiKeyList)
    .query(async ({ ctx }) => ({ items: await ctx.services.apiKeys.list() })),

  revoke: adminProcedure
    .meta({
      openapi: { method: 'DELETE', path: '/api-keys/{id}', tags: ['api keys'], summary: 'Revoke an API key, at once', description: 'Connections already open with it (WebSockets, streams) and the log tokens issued to it lose their power within AUTH_RECHECK_S. Needs the admin role.', errorResponses: { ...errors, 404: 'No such active key' } },
    })
    .input(ApiKeyIdInput)
    .output(ApiKey)
    .mutation(({ ctx, input }) => ctx.services.apiKeys.revoke(input.id)),
});
