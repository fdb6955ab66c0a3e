/**
 * Domain errors and the one table that maps them to tRPC codes (and so to HTTP statuses).
 * Services throw these; they know nothing of tRPC or HTTP.
 */
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { ApiIssue } from '../../shared/src/schemas/error';

export type DomainErrorKind = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'too_many' | 'unavailable';

export interface DomainErrorInit {
  kind: DomainErrorKind;
  message: string;
  /** For `too_many`: seconds until a retry can succeed (the Retry-After header). */
  retryAfterS?: number;
  /** For `bad_request`: each field at fault on its own (the message joins them). */
  issues?: ApiIssue[];
}

export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly retryAfterS?: number;
  readonly issues?: ApiIssue[];

  constructor({ kind, message, retryAfterS, issues }: DomainErrorInit) {
    super(message);
    this.kind = kind;
    this.retryAfterS = retryAfterS;
    this.issues = issues;
    this.name = 'DomainError';
  }
}

export const notFound = (message: string) => new DomainError({ kind: 'not_found', message });
export const conflict = (message: string) => new DomainError({ kind: 'conflict', message });
export const badRequest = (message: string) => new DomainError({ kind: 'bad_request', message });
/** A 400 for several fields at once: one issue each, and a message naming them all. */
export const invalidFields = (issues: ApiIssue[]) => new DomainError({ kind: 'bad_request', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues });
export const unauthorized = (message: string) => new DomainError({ kind: 'unauthorized', message });
export const forbidden = (message: string) => new DomainError({ kind: 'forbidden', message });
export const unavailable = (message: string, retryAfterS?: number) => new DomainError({ kind: 'unavailable', message, retryAfterS });
export const tooMany = (message: string, retryAfterS: number) => new DomainError({ kind: 'too_many', message, retryAfterS });

const TRPC_CODE: Record<DomainErrorKind, TRPC_ERROR_CODE_KEY> = {
  bad_request: 'BAD_REQUEST',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  too_many: 'TOO_MANY_REQUESTS',
  unavailable: 'SERVICE_UNAVAILABLE',
};

export const HTTP_STATUS: Record<DomainErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_many: 429,
  unavailable: 503,
};

/** Turns a DomainError into the TRPCError a client sees; anything else passes through. */
/** Codes of a database that cannot be reached or went away (node errors, PostgreSQL classes 08 and 57P). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03']);

/** Codes of a database or file system with no room left (SQLite, node, PostgreSQL 53100 disk_full): it works again once space is freed. */
const FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT', '53100']);

/** Whether an error says there is no room left on a disk (or within a quota). */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && FULL.has(code);
}

/** The error as a DomainError when it is one, or when it says the database is out of reach or out of room (503); else null. */
export function asDomainError(error: unknown): DomainError | null {
  if (error instanceof DomainError) return error;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  if ((typeof code === 'string' && UNREACHABLE.has(code)) || /^Connection terminated|timeout exceeded when trying to connect/i.test(text)) {
    return unavailable('the database is unavailable; try again shortly', 5);
  }
  if (isDiskFull(error)) return unavailable(`the disk of the database or LOG_DIR is full (${String(code)}); try again once space is freed`, 30);
  return null;
}

export function toTRPCError(error: unknown): unknown {
  const domain = asDomainError(error);
  if (domain) return new TRPCError({ code: TRPC_CODE[domain.kind], message: domain.message, cause: domain });
  return error;
}
