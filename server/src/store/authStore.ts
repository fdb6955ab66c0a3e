/** Stores behind authentication: API keys (hashes only), the audit log, and server settings. */
import type { ApiKey, AuditList, AuditRecord } from '../../../shared/src/schemas/auth';

export interface ApiKeyRecord extends ApiKey {
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
}

export interface ApiKeyStore {
  insert(key: ApiKeyRecord): Promise<void>;
  find(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKey[]>;
  /** Marks the key revoked; false when there is no such key or it was revoked already. */
  revoke(id: string, at: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
  /** Every key ever created, revoked ones included. */
  count(): Promise<number>;
}

export interface AuditFilter {
  limit: number;
  cursor?: string | undefined;
  action?: string | undefined;
  outcome?: AuditRecord['outcome'] | undefined;
}

export interface AuditStore {
  append(record: Omit<AuditRecord, 'id'>): Promise<void>;
  list(filter: AuditFilter): Promise<AuditList>;
  /** Deletes records older than `before` (an ISO time), then all but the newest `keep`; answers how many went. */
  prune(before: string | null, keep: number | null): Promise<number>;
}

export interface SettingsStore {
  /** The stored value, or `init()` stored first when there is none (atomically). */
  getOrInit(name: string, init: () => string): Promise<string>;
}
