/**
 * The enumerations the web app's run page needs, and the small functions over them, without zod: the
 * schema modules build their schemas as they load, so importing any value from them brings zod (about
 * 90 KB) into the browser's first script. The schemas are made from these lists.
 */

/** viewer < operator < admin: each role may do everything the one before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export const hasRole = (have: Role | null, need: Role): boolean => have !== null && ROLE_RANK[have] >= ROLE_RANK[need];

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'stopped', 'timed_out', 'lost'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses a run never leaves. */
export const FINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'stopped', 'timed_out', 'lost'];
export const isFinal = (status: RunStatus): boolean => FINAL_STATUSES.includes(status);

/** From the most severe down. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The `requested_by` of a run a schedule started. */
export const scheduleRequester = (scheduleId: string) => `schedule:${scheduleId}`;

/** The schedule that started a run, from its `requested_by` (null when a person or key did). */
export const scheduleOf = (requestedBy: string | null): string | null => (requestedBy?.startsWith('schedule:') ? requestedBy.slice('schedule:'.length) : null);
