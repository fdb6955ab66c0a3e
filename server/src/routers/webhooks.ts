import { z } from 'zod';
import {
  CreatedWebhook,
  CreateWebhookInput,
  DeliveryEnvelope,
  DeliveryList,
  DeliveryListInput,
  RedeliverInput,
  UpdateWebhookInput,
  WebhookEndpoint,
  WebhookIdInput,
  WebhookList,
} from '../../../shared/src/schemas/webhook';
import { adminProcedure, router } from '../trpc/init';

const errors = { 401: 'No credential, or one that does not verify', 403: 'Needs the admin role' };
const tags = ['webhooks'];

export const webhooksRouter = router({
  create: adminProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/webhooks',
        tags,
        summary: 'Subscribe a webhook endpoint to run ends',
        description:
          'Each run that ends and matches the filter is POSTed to the URL, signed (`X-OSS-Runner-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`) with the secret this answer carries once. Loopback, private and link-local addresses are refused unless WEBHOOK_ALLOWED_NETWORKS allows them. Needs the admin role.',
        errorResponses: { 400: 'Invalid URL, filter or format, or a refused address', ...errors },
      },
    })
    .input(CreateWebhookInput)
    .output(CreatedWebhook)
    .mutation(({ ctx, input }) => ctx.services.webhooks.create(input, ctx.principal.id)),

  list: adminProcedure
    .meta({ openapi: { method: 'GET', path: '/webhooks', tags, summary: 'Webhook endpoints, without their secrets', description: 'Needs the admin role.', errorResponses: errors } })
    .input(z.void())
    .output(WebhookList)
    .query(async ({ ctx }) => ({ items: await ctx.services.webhooks.list() })),

  get: adminProcedure
    .meta({ openapi: { method: 'GET', path: '/webhooks/{id}', tags, summary: 'A webhook endpoint, without its secret', description: 'Needs the admin role.', errorResponses: { ...errors, 404: 'No such endpoint' } } })
    .input(WebhookIdInput)
    .output(WebhookEndpoint)
    .query(({ ctx, input }) => ctx.services.webhooks.get(input.id)),

  update: adminProcedure
    .meta({
      openapi: { method: 'PATCH', path: '/webhooks/{id}', tags, summary: 'Change a webhook endpoint', description: 'Fields left out keep their values; `enabled: false` pauses its deliveries. Needs the admin role.', errorResponses: { 400: 'Invalid field', ...errors, 404: 'No such endpoint' } },
    })
    .input(UpdateWebhookInput)
    .output(WebhookEndpoint)
    .mutation(({ ctx, input }) => ctx.services.webhooks.update(input)),

  rotateSecret: adminProcedure
    .meta({
      openapi: { method: 'POST', path: '/webhooks/{id}/secret', tags, summary: "Replace a webhook endpoint's signing secret", description: 'The new secret is in this answer, once; deliveries are signed with it from now on. Needs the admin role.', errorResponses: { ...errors, 404: 'No such endpoint' } },
    })
    .input(WebhookIdInput)
    .output(CreatedWebhook)
    .mutation(({ ctx, input }) => ctx.services.webhooks.rotateSecret(input.id)),

  remove: adminProcedure
    .meta({ openapi: { method: 'DELETE', path: '/webhooks/{id}', tags, summary: 'Delete a webhook endpoint and its deliveries', description: 'Needs the admin role.', errorResponses: { ...errors, 404: 'No such endpoint' } } })
    .input(WebhookIdInput)
    .output(WebhookEndpoint)
    .mutation(({ ctx, input }) => ctx.services.webhooks.remove(input.id)),

  deliveries: adminProcedure
    .meta({
      openapi: { method: 'GET', path: '/webhooks/{id}/deliveries', tags, summary: "An endpoint's deliveries, newest first", description: 'Each with its state, attempts and the last response status. Needs the admin role.', errorResponses: { 400: 'Invalid filter or cursor', ...errors, 404: 'No such endpoint' } },
    })
    .input(DeliveryListInput)
    .output(DeliveryList)
    .query(({ ctx, input }) => ctx.services.webhooks.deliveries(input)),

  redeliver: adminProcedure
    .meta({
      openapi: { method: 'POST', path: '/webhooks/{id}/deliveries/{delivery_id}/redeliver', tags, summary: 'Send a delivery again', description: 'The same body, as a new delivery with its own id and retries. Needs the admin role.', errorResponses: { ...errors, 404: 'No such endpoint or delivery' } },
    })
    .input(RedeliverInput)
    .output(DeliveryEnvelope)
    .mutation(async ({ ctx, input }) => ({ delivery: await ctx.services.webhooks.redeliver(input.id, input.delivery_id) })),
});
