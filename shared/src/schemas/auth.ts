import { z } from 'zod';
import { ROLES } from './enums';
import { Cursor } from './page';

export { hasRole, ROLE_RANK } from './enums';

/** viewer < operator < admin: each role may do everything the one before it may. */
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const ApiKey = z
  .object({
    id: z.string().describe('the key id, also the lookup prefix the key begins with'),
    name: z.string(),
    role: Role,
    created_at: z.iso.datetime({ offset: true }),
    created_by: z.string().nullable(),
    last_used_at: z.iso.datetime({ offset: true }).nullable(),
    revoked_at: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof ApiKey>;

export const CreateApiKeyInput = z.strictObject({
  name: z.string().trim().min(1).max(100).describe('what the key is for'),
  role: Role,
});
export type CreateApiKeyInput = z.infer<typeof CreateApiKeyInput>;

export const CreatedApiKey = z.object({
  api_key: ApiKey,
  key: z.string().describe('the secret key: shown this once, only its hash is stored'),
});
export type CreatedApiKey = z.infer<typeof CreatedApiKey>;

export const ApiKeyList = z.object({ items: z.array(ApiKey) });
export const ApiKeyIdInput = z.object({ id: z.string().min(1).max(64) });

export const AuditRecord = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime({ offset: true }),
    actor: z.string().nullable().describe('key:<id>, jwt:<sub>, env:ADMIN_API_KEY, or null when nobody was recognised'),
    ip: z.string().nullable(),
    action: z.string().describe('what was attempted, such as runs.start or auth'),
    run_id: z.string().nullable(),
    outcome: z.enum(['ok', 'denied', 'error']),
    detail: z.string().nullable(),
    count: z.number().int().min(1).describe('how many times it happened: the same refusal repeated by the same caller within a minute is one record, written when the minute is over'),
  })
  .meta({ id: 'AuditRecord' });
export type AuditRecord = z.infer<typeof AuditRecord>;

export const AuditListInput = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: Cursor.optional(),
  action: z.string().max(100).optional(),
  outcome: z.enum(['ok', 'denied', 'error']).optional(),
});
export type AuditListInput = z.input<typeof AuditListInput>;

export const AuditList = z.object({ items: z.array(AuditRecord), next_cursor: z.string().nullable() });
export type AuditList = z.infer<typeof AuditList>;

/** A short-lived token that lets a browser's EventSource (which cannot send headers) read one run's log. */
export const LogToken = z.object({
  token: z.string(),
  expires_at: z.iso.datetime({ offset: true }),
});
export type LogToken = z.infer<typeof LogToken>;

/** Who the server takes the caller for (GET /me). */
export const WhoAmI = z.object({
  id: z.string().nullable(),
  role: Role.nullable(),
  expires_at: z.iso.datetime({ offset: true }).nullable(),
  auth_disabled: z.boolean(),
});
export type WhoAmI = z.infer<typeof WhoAmI>;
