/**
 * Offline API key management, on the same database the server uses (it may be running):
 *
 *   npm run apikey -- create --name NAME --role viewer|operator|admin
 *   npm run apikey -- list
 *   npm run apikey -- revoke ID
 */
import { parseArgs } from 'node:util';
import { Role } from '../../../shared/src/schemas/auth';
import { ConfigError, loadConfig } from '../config';
import { DomainError } from '../errors';
import { ApiKeyService } from '../services/auth/apiKeys';
import { openStores } from '../store';

const USAGE = `usage:
  npm run apikey -- create --name NAME --role viewer|operator|admin
  npm run apikey -- list
  npm run apikey -- revoke ID`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, role: { type: 'string' } } });
  const [command, id] = positionals;
  const config = loadConfig();
  const stores = await openStores(config.LOG_DIR, config.DATABASE_URL);
  const keys = new ApiKeyService(stores.apiKeys);
  try {
    switch (command) {
      case 'create': {
        const role = Role.safeParse(values.role);
        if (!values.name?.trim() || !role.success) {
          console.error(`--name and --role (viewer, operator or admin) are required\n${USAGE}`);
          return 2;
        }
        const { key, api_key } = await keys.create(values.name.trim(), role.data, 'cli');
        console.log(`created API key ${api_key.id} "${api_key.name}" with the ${api_key.role} role. The key (shown this once; only its hash is stored):\n${key}`);
        return 0;
      }
      case 'list':
        for (const k of await keys.list()) {
          console.log([k.id, k.role.padEnd(8), k.revoked_at ? `revoked ${k.revoked_at}` : 'active', `created ${k.created_at}`, `last used ${k.last_used_at ?? 'never'}`, k.name].join('  '));
        }
        return 0;
      case 'revoke':
        if (!id) {
          console.error(`the key id is required\n${USAGE}`);
          return 2;
        }
        await keys.revoke(id);
        console.log(`revoked API key ${id}`);
        return 0;
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    await stores.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError || e instanceof DomainError ? e.message : e);
    process.exit(1);
  },
);
