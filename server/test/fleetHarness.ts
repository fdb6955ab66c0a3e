/**
 * What a fleet test needs beside the nodes it starts: a Redis (by default one of its own: redis-server
 * from Debian, on a free port, so the test can kill and restart it without touching the machine's), a
 * PostgreSQL schema of its own (dropped afterwards), and the environment every node of the fleet shares.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort, waitFor } from './harness';

export const TEST_PG = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The DATABASE_URL of `schema` in the test database (or the same database at `server`): a server there keeps its tables in it. */
export const schemaUrl = (schema: string, server = TEST_PG): string => `${server}?options=-c%20search_path%3D${schema}`;

/** The test database through another port of this host (a relay's): the `server` of `schemaUrl`. */
export function testPgVia(port: number): string {
  const target = new URL(TEST_PG);
  return `postgres://${target.username}@127.0.0.1:${port}${target.pathname}`;
}

/** A Redis of the test's own: started, killed and started again on the same port. */
export class TestRedis {
  proc: ChildProcess | undefined;
  constructor(readonly port: number) {}
  async start(): Promise<void> {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    this.proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('redis-server to listen', () => out.includes('Ready to accept connections'));
  }
  async kill(): Promise<void> {
    const exited = this.proc && once(this.proc, 'exit');
    this.proc?.kill('SIGKILL');
    await exited;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}

/**
 * The fleet's Redis. `own` (the default): a redis-server of the test's own, which it may kill and start
 * again. `machine`: the machine's (TEST_REDIS_URL), shared with other tests and kept apart by the
 * fleet's REDIS_PREFIX, for a test that leaves Redis alone: it saves starting one.
 */
export type FleetRedis = 'own' | 'machine';

export interface FleetBase<R extends TestRedis | null = TestRedis> {
  /** The test's own Redis; null on the machine's. */
  redis: R;
  /** A connection to the test database, outside the fleet's schema (name its tables `${schema}.x`). */
  admin: pg.Client;
  schema: string;
  /** What every node gets (DATABASE_URL, REDIS_URL, REDIS_PREFIX, FLEET_LEASE_S, ADMIN_API_KEY, ...). */
  env: Record<string, string>;
  /** The DATABASE_URL of the schema, through another host port (a relay's). */
  databaseUrlVia(port: number): string;
  /** The REDIS_URL of the test's Redis, through another host port (a relay's). */
  redisUrlVia(port: number): string;
  close(): Promise<void>;
}

/** Deletes every key under `prefix` from the Redis at `url`. */
async function unlinkPrefixed(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    for (let cursor = '0'; ; ) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await client.unlink(...keys);
      if ((cursor = next) === '0') break;
    }
  } finally {
    client.disconnect();
  }
}

/** A fleet's base; `env` is added to (and overrides) what every node gets. */
export async function fleetBase(env?: Record<string, string>, options?: { redis?: 'own' }): Promise<FleetBase>;
export async function fleetBase(env: Record<string, string>, options: { redis: 'machine' }): Promise<FleetBase<null>>;
export async function fleetBase(env: Record<string, string> = {}, { redis: where = 'own' }: { redis?: FleetRedis } = {}): Promise<FleetBase<TestRedis | null>> {
  const redis = where === 'own' ? new TestRedis(await freePort()) : null;
  await redis?.start();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  const schema = `osr_fleet_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const prefix = `t${randomBytes(4).toString('hex')}`;
  return {
    redis,
    admin,
    schema,
    env: {
      DATABASE_URL: schemaUrl(schema),
      REDIS_URL: redis?.url ?? TEST_REDIS,
      REDIS_PREFIX: prefix,
      ADMIN_API_KEY: `test-admin-${randomBytes(12).toString('hex')}`,
      ...env,
    },
    databaseUrlVia: (port) => schemaUrl(schema, testPgVia(port)),
    redisUrlVia: (port) => `redis://127.0.0.1:${port}`,
    async close() {
      // The test's own Redis goes with everything in it; on the machine's, the fleet's keys go.
      if (redis) await redis.kill();
      else await unlinkPrefixed(TEST_REDIS, env.REDIS_PREFIX ?? prefix);
      // A session still in a transaction on its tables would hold the drop for good: said, not waited on.
      await admin.query("SET lock_timeout = '20s'");
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((e: unknown) => console.warn(`schema ${schema} left in the test database: ${(e as Error).message}`));
      await admin.end();
    },
  };
}
