import { z } from 'zod';
import { Cursor } from './page';
import { Outcome, Run, RunStatus } from './run';
import { RunSummary, Severity } from './summary';

const Timestamp = z.iso.datetime({ offset: true });

/** What a delivery's body is: our JSON (run, summary, links), or a Slack-compatible `{text}` message. */
export const WebhookFormat = z.enum(['json', 'slack']);
export type WebhookFormat = z.infer<typeof WebhookFormat>;

/** Which ended runs an endpoint hears of: every condition set must hold (an empty list: any). */
export const WebhookFilter = z
  .strictObject({
    tools: z.array(z.string().min(1).max(128)).max(100).default([]).describe('catalog tools (any when empty)'),
    statuses: z.array(RunStatus).max(10).default([]).describe('final statuses (any when empty)'),
    outcomes: z.array(Outcome).max(3).default([]).describe('outcomes, such as `findings` (any when empty)'),
    new_findings_min_severity: Severity.nullable()
      .default(null)
      .describe("only runs whose summary's `new_since_previous` counts a finding at this severity or above (a run with no previous run to compare with: any of its findings)"),
  })
  .meta({ id: 'WebhookFilter' });
export type WebhookFilter = z.infer<typeof WebhookFilter>;

/** Ids are ASCII words (`wh_...`, UUIDs): a pattern, so that anything else is a 400 before any lookup. */
const IdPattern = /^[\w-]{1,64}$/;
export const WebhookId = z.string().regex(IdPattern, 'must be an id this server gave out').describe('the endpoint id');

export const WebhookEndpoint = z
  .object({
    id: WebhookId,
    url: z.string().describe('where deliveries are POSTed'),
    description: z.string(),
    format: WebhookFormat,
    enabled: z.boolean(),
    filter: WebhookFilter,
    created_at: Timestamp,
    created_by: z.string().nullable(),
    updated_at: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

const Url = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2048)
  .describe('an http:// or https:// URL; loopback, private and link-local addresses are refused unless WEBHOOK_ALLOWED_NETWORKS allows them');

/** true or false and nothing else: trpc-to-openapi makes a REST body's z.boolean() coerce (`{}` would be true). */
const Flag = z.literal([true, false]);

export const CreateWebhookInput = z.strictObject({
  url: Url,
  description: z.string().trim().max(200).default(''),
  format: WebhookFormat.default('json'),
  enabled: Flag.default(true).describe('false: paused (runs that end meanwhile are not delivered to it; pending deliveries wait)'),
  filter: WebhookFilter.default({ tools: [], statuses: [], outcomes: [], new_findings_min_severity: null }),
});
export type CreateWebhookInput = z.input<typeof CreateWebhookInput>;

export const UpdateWebhookInput = z.strictObject({
  id: WebhookId,
  url: Url.optional(),
  description: z.string().trim().max(200).optional(),
  format: WebhookFormat.optional(),
  enabled: Flag.optional().describe('false: paused (runs that end meanwhile are not delivered to it; pending deliveries wait)'),
  filter: WebhookFilter.optional(),
});
export type UpdateWebhookInput = z.input<typeof UpdateWebhookInput>;

export const WebhookIdInput = z.object({ id: WebhookId });

export const CreatedWebhook = z.object({
  endpoint: WebhookEndpoint,
  secret: z.string().describe('the signing secret: shown this once (and on rotation), never again'),
});
export type CreatedWebhook = z.infer<typeof CreatedWebhook>;

export const WebhookList = z.object({ items: z.array(WebhookEndpoint) });

/** pending: waiting for its next attempt; sending: an attempt under way; delivered: a 2xx; failed: retries given up. */
export const DeliveryState = z.enum(['pending', 'sending', 'delivered', 'failed']);
export type DeliveryState = z.infer<typeof DeliveryState>;

export const WebhookDelivery = z
  .object({
    id: z.string().describe('also sent as the X-OSS-Runner-Delivery header'),
    endpoint_id: WebhookId,
    event: z.literal('run.ended'),
    run_id: z.string(),
    state: DeliveryState,
    attempts: z.number().int().nonnegative(),
    response_status: z.number().int().nullable().describe("the last attempt's HTTP status (null: no answer)"),
    error: z.string().nullable().describe('why the last attempt failed'),
    created_at: Timestamp,
    last_attempt_at: Timestamp.nullable(),
    next_attempt_at: Timestamp.nullable().describe('when it is tried next (pending only)'),
    delivered_at: Timestamp.nullable(),
    redelivery_of: z.string().nullable().describe('the delivery this one sends again'),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const DeliveryListInput = z.object({
  id: WebhookId,
  state: DeliveryState.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: Cursor.optional(),
});
export type DeliveryListInput = z.input<typeof DeliveryListInput>;

export const DeliveryList = z.object({ items: z.array(WebhookDelivery), next_cursor: z.string().nullable() });
export type DeliveryList = z.infer<typeof DeliveryList>;

export const RedeliverInput = z.object({ id: WebhookId, delivery_id: z.string().regex(IdPattern, 'must be an id this server gave out').describe('the delivery id') });

export const DeliveryEnvelope = z.object({ delivery: WebhookDelivery });

/** The JSON body of a `run.ended` delivery (format `json`). */
export const RunEndedEvent = z
  .object({
    event: z.literal('run.ended'),
    run: Run.describe('the run as it ended, as GET /runs/{run_id} answers it'),
    summary: RunSummary.nullable().describe("the run's summary (run.summary; null when its tool declares no reports)"),
    links: z.object({ run: z.string().describe('its page in the web app'), log: z.string().describe('its raw log'), api: z.string().describe('GET /runs/{run_id}') }),
  })
  .meta({ id: 'RunEndedEvent' });
export type RunEndedEvent = z.infer<typeof RunEndedEvent>;
