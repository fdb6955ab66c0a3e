/**
 * A node that vanishes in the middle of a transaction (its host loses power or its network: PostgreSQL
 * is not told) must not hold its locks for long. The claim of a run of a tool with a concurrency takes
 * the tool's lock in a transaction (server/src/fleet/fleetStore.ts): held by a vanished session, it
 * would stop every run of that tool across the fleet until TCP gave up on the connection, hours later.
 * The server's sessions are ended by PostgreSQL once idle in a transaction for IDLE_IN_TRANSACTION_MS.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDLE_IN_TRANSACTION_MS, openPool } from '../src/store/pgDb';
import { fleetBase, schemaUrl, TEST_PG, testPgVia, type FleetBase } from './fleetHarness';
import { tcpRelay } from './tcpRelay';

/** A schema of the test's own (no fleet is started in it). */
let base: FleetBase<null>;
beforeAll(async () => {
  base = await fleetBase({}, { redis: 'machine' });
});
afterAll(() => base?.close());

describe('a node gone in the middle of a transaction', () => {
  it('holds its locks no longer than IDLE_IN_TRANSACTION_MS', async () => {
    const relay = await tcpRelay(TEST_PG);
    const { pool } = await openPool(schemaUrl(base.schema, testPgVia(relay.port)), 'fleet');
    const lock = "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('tool:vanish'))";
    const gone = await pool.connect();
    gone.on('error', () => undefined);
    await gone.query('BEGIN');
    await gone.query(lock);
    await relay.vanish();

    // Another node's claim of the same tool waits for the lock, but not for ever.
    const other = new pg.Client({ connectionString: base.env.DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SET LOCAL lock_timeout = ${IDLE_IN_TRANSACTION_MS + 10_000}`);
      await expect(other.query(lock)).resolves.toBeDefined();
      await other.query('COMMIT');
    } finally {
      await other.end();
      gone.release(new Error('vanished'));
      await pool.end();
    }
  }, 60_000);
});
