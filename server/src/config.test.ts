/**
 * The configuration as the server reads it at start-up (loadConfig), given an environment of the
 * test's own rather than the process's, so nothing is started to see a refusal.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('refuses a RUN_ENV_ALLOWLIST that would hand the server’s own secrets to every tool, naming them', () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'config-'));
    let message = 'accepted';
    try {
      loadConfig({ RUN_ENV_ALLOWLIST: 'PATH,ADMIN_API_KEY,AUTH_JWT_SECRET,DATABASE_URL' }, cwd);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    for (const name of ['ADMIN_API_KEY', 'AUTH_JWT_SECRET', 'DATABASE_URL']) expect(message).toContain(`RUN_ENV_ALLOWLIST: ${name} is the server's own secret`);
  });
});
