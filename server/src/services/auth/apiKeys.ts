/**
 * API keys: `osr_<id>_<secret>`. Only a SHA-256 hash is stored, looked up by the id the key begins
 * with and compared in constant time. Keys carry 256 random bits, so a fast hash is the right one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKey, CreatedApiKey, Role } from '../../../../shared/src/schemas/auth';
import { notFound } from '../../errors';
import type { ApiKeyStore } from '../../store/authStore';
import type { Principal } from './principal';

const KEY_FORMAT = /^osr_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

export class ApiKeyService {
  constructor(private readonly store: ApiKeyStore) {}

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
    const record = await this.store.find(id);
    if (!record || record.revoked_at) return null;
    if (!timingSafeEqual(sha256(credential), Buffer.from(record.hash, 'hex'))) return null;
    // Best effort, never in the way of the request (a full disk makes SQLite throw at once).
    void Promise.resolve()
      .then(() => this.store.touch(id, new Date().toISOString()))
      .catch(() => undefined);
    return { id: `key:${id}`, role: record.role, expiresAt: null };
  }
}

/** Constant-time equality of two strings (of any lengths). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}
