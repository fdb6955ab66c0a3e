import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SqliteApiKeyStore } from '../../store/sqliteAuthStore';
import { openDatabase } from '../../store/sqliteDb';
import { ApiKeyService } from './apiKeys';

const CACHE_MS = 300;

/** One database, and two services on it: this server's (caching) and another's (the CLI, another API node). */
function setup() {
  const store = new SqliteApiKeyStore(openDatabase(':memory:'));
  return { here: new ApiKeyService(store, { cacheMs: CACHE_MS }), elsewhere: new ApiKeyService(store) };
}

describe('ApiKeyService', () => {
  it('refuses a key it revoked itself at once, whatever it has cached', async () => {
    const { here } = setup();
    const { key, api_key } = await here.create('ci', 'operator', null);
    expect(await here.verify(key)).toMatchObject({ id: `key:${api_key.id}`, role: 'operator' });
    await here.revoke(api_key.id);
    expect(await here.verify(key)).toBeNull();
    expect(await here.currentRole(api_key.id)).toBeNull();
  });

  it('trusts a record read for cacheMs at most: a revocation made elsewhere is seen after that', async () => {
    const { here, elsewhere } = setup();
    const { key, api_key } = await here.create('ci', 'operator', null);
    expect(await here.currentRole(api_key.id)).toBe('operator');
    await elsewhere.revoke(api_key.id);
    expect(await here.currentRole(api_key.id)).toBe('operator'); // still cached
    await sleep(CACHE_MS + 50);
    expect(await here.currentRole(api_key.id)).toBeNull();
    expect(await here.verify(key)).toBeNull();
  });

  it('reads the store every time without a cache', async () => {
    const { here, elsewhere } = setup();
    const { api_key } = await here.create('ci', 'viewer', null);
    expect(await elsewhere.currentRole(api_key.id)).toBe('viewer');
    await here.revoke(api_key.id);
    expect(await elsewhere.currentRole(api_key.id)).toBeNull();
  });
});
