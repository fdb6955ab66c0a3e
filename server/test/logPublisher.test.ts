/**
 * A worker's copy of a run's log to its Redis stream (server/src/fleet/logPublisher.ts), against the
 * machine's Redis: the end lands after everything the stream holds, even when the run's record counts
 * fewer bytes (a run the fleet judged lost while its worker was cut off: the record keeps the count it
 * had then). Found by the fault run: the end went to the record's count, Redis refused it as older
 * than the stream's last entry, and the worker tried again every second for as long as it lived.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/src/schemas/run';
import { LogPublisher } from '../src/fleet/logPublisher';
import { streamKey } from '../src/fleet/logStreams';
import { connectRedis, ready } from '../src/fleet/redis';
import type { LogState } from '../src/services/logStream';
import { TEST_REDIS } from './fleetHarness';
import { tempDir, waitFor } from './harness';

const redis = connectRedis(TEST_REDIS, () => undefined);
const prefix = `t${randomBytes(4).toString('hex')}`;
beforeAll(() => ready(redis));
afterAll(() => redis.disconnect());

describe('the log publisher', () => {
  it('ends a stream after all it holds when the run is recorded lost with fewer bytes than were sent', async () => {
    const runId = randomUUID();
    const logPath = path.join(tempDir(), `${runId}.log`);
    writeFileSync(logPath, 'line 1\nline 2\n');
    let state: LogState = { length: 14, ended: null };
    const errors: string[] = [];
    const publisher = new LogPublisher(
      { redis, prefix, state: () => Promise.resolve(state), logPath: () => logPath },
      { ttlS: 60, liveTtlS: 60, onError: (message) => errors.push(message) },
    );
    publisher.publish(runId);
    const key = streamKey(prefix, runId);
    await waitFor('the first bytes in the stream', async () => (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] === '14-0');

    // The tool goes on writing while its worker is cut off; the fleet records the run lost with 7 bytes.
    appendFileSync(logPath, 'line 3\n');
    state = { length: 21, ended: null };
    publisher.publish(runId);
    await waitFor('the new line in the stream', async () => (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] === '21-0');
    state = { length: 7, ended: { status: 'lost', log_bytes: 7 } as Run };
    publisher.publish(runId);

    await waitFor('the end marker', async () => (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] === '21-1', 5000);
    expect(publisher.sending(runId)).toBe(false);
    expect(errors).toEqual([]);
  });

  it('tries a copy that keeps failing less and less often, says so once, and tries at once when Redis is back', async () => {
    const runId = randomUUID();
    const logPath = path.join(tempDir(), `${runId}.log`);
    writeFileSync(logPath, 'line 1\n');
    const key = streamKey(prefix, runId);
    // Not a stream: every copy fails, as long as the key stays.
    await redis.set(key, 'in the way');
    const errors: string[] = [];
    let tries = 0;
    const state = () => {
      tries++;
      return Promise.resolve({ length: 7, ended: null });
    };
    const publisher = new LogPublisher({ redis, prefix, state, logPath: () => logPath }, { ttlS: 60, liveTtlS: 60, onError: (message) => errors.push(message) });
    publisher.publish(runId);
    // Tries at 0, 1 and 3 s (not every second): told once.
    await new Promise((r) => setTimeout(r, 3200));
    expect(tries).toBe(3);
    expect(errors).toHaveLength(1);
    await redis.del(key);
    // The next try would be 4 s away; Redis answering again (its connection ready) brings it now.
    redis.emit('ready');
    await waitFor('the copy', async () => (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0] === '7-0', 500);
  });
});
