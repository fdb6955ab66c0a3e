/**
 * What a fleet test needs beside the nodes it starts: a Redis of its own (redis-server from Debian, on a
 * free port, so the test can kill and restart it without touching the machine's), a PostgreSQL schema
 * of its own (dropped afterwards), and the environment every node of the fleet shares.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import pg from 'pg';
import { freePort, waitFor } from './harness';

export const TEST_PG = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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

export interface FleetBase {
  redis: TestRedis;
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

export async function fleetBase(env: Record<string, string> = {}): Promise<FleetBase> {
  const redis = new TestRedis(await freePort());
  await redis.start();
  const admin = new pg.Client({ connectionString: TEST_PG });
  await admin.connect();
  const schema = `osr_fleet_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const target = new URL(TEST_PG);
  const search = `?options=-c%20search_path%3D${schema}`;
  return {
    redis,
    admin,
    schema,
    env: {
      DATABASE_URL: `${TEST_PG}${search}`,
      REDIS_URL: redis.url,
      REDIS_PREFIX: `t${randomBytes(4).toString('hex')}`,
      ADMIN_API_KEY: `test-admin-${randomBytes(12).toString('hex')}`,
      ...env,
    },
    databaseUrlVia: (port) => `postgres://${target.username}@127.0.0.1:${port}${target.pathname}${search}`,
    redisUrlVia: (port) => `redis://127.0.0.1:${port}`,
    async close() {
      await redis.kill();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
