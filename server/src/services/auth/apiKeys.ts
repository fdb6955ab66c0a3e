/**
 * API keys: `osr_<id>_<secret>`. Only a SHA-256 hash is stored, looked up by the id the key begins
 * with and compared in constant time. Keys carry 256 random bits, so a fast hash is the right one.
 * Records found are kept for a few seconds (`cacheMs`, a bounded number of them), so that re-checking
 * a credential before every operation on an open connection costs no database read each time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKey, CreatedApiKey, Role } from '../../../../shared/src/schemas/auth';
import { notFound } from '../../errors';
import type { ApiKeyRecord, ApiKeyStore } from '../../store/authStore';
import type { Principal } from './principal';

const KEY_FORMAT = /^osr_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

/** The id of the API key a principal stands for (`key:<id>`), or null for any other principal. */
export const keyIdOf = (principalId: string): string | null => /^key:([0-9a-f]{12})$/.exec(principalId)?.[1] ?? null;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** At most this many key records are cached: the oldest goes first. */
const CACHE_MAX = 10_000;

export interface ApiKeyOptions {
  /** How long a record read from the store is trusted (ms); 0 reads the store every time. */
  cacheMs: number;
}

export class ApiKeyService {
  private readonly recent = new Map<string, { record: ApiKeyRecord; at: number }>();

  constructor(
    private readonly store: ApiKeyStore,
    private readonly options: ApiKeyOptions = { cacheMs: 0 },
  ) {}

  /** The key's record, from the cache when read less than `cacheMs` ago. Unknown ids are not cached. */
  private async record(id: string): Promise<ApiKeyRecord | undefined> {
    const cached = this.recent.get(id);
    if (cached && Date.now() - cached.at < this.options.cacheMs) return cached.record;
    this.recent.delete(id);
    const record = await this.store.find(id);
    if (record && this.options.cacheMs > 0) {
      if (this.recent.size >= CACHE_MAX) this.recent.delete(this.recent.keys().next().value ?? '');
      this.recent.set(id, { record, at: Date.now() });
    }
    return record;
  }

  async create(name: string, role: Role, createdBy: string | null): Promise<CreatedApiKey> {
    const id = randomBytes(6).toString('hex');
    const key = `osr_${id}_${randomBytes(32).toString('base64url')}`;
    const record = { id, name, role, created_at: new Date().toISOString(), created_by: createdBy, last_used_at: null, revoked_at: null };
    await this.store.insert({ ...record, hash: sha256(key).toString('hex') });
    return { api_key: record, key };
  }

  list(): Promise<ApiKey[]> {
    return this.store.list();
  }

  async revoke(id: string): Promise<ApiKey> {
    // Forgotten here at once; other API nodes sharing the database notice within cacheMs.
    this.recent.delete(id);
    const key = await this.store.find(id);
    if (!key || !(await this.store.revoke(id, new Date().toISOString()))) throw notFound(`id: no active API key "${id}"`);
    const { hash: _hash, ...rest } = key;
    return { ...rest, revoked_at: new Date().toISOString() };
  }

  count(): Promise<number> {
    return this.store.count();
  }

  looksLikeKey(credential: string): boolean {
    return credential.startsWith('osr_');
  }

  /** The key's principal, or null for an unknown, malformed or revoked key. */
  async verify(credential: string): Promise<Principal | null> {
    const id = KEY_FORMAT.exec(credential)?.[1];
    if (!id) return null;
    const record = await this.record(id);
    if (!record || record.revoked_at) return null;
    if (!timingSafeEqual(sha256(credential), Buffer.from(record.hash, 'hex'))) return null;
    // Best effort, never in the way of the request (a full disk makes SQLite throw at once).
    void Promise.try(() => this.store.touch(id, new Date().toISOString())).catch(() => undefined);
    return { id: `key:${id}`, role: record.role, expiresAt: null };
  }

  /** The role of key `id` now (its record at most `cacheMs` old), or null once it is revoked or gone. */
  async currentRole(id: string): Promise<Role | null> {
    const record = await this.record(id);
    return record && !record.revoked_at ? record.role : null;
  }
}

/** Constant-time equality of two strings (of any lengths). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}
