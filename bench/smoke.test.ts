/**
 * The benchmark suite at small sizes, to catch breakage (not timing): every case runs against the
 * real server and every reader must get every line, in order, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../server/test/harness';
import { fleetStops, fleetThroughput, startBenchFleet } from './fleet';
import { bigOutput, latency, manyReaders, oneReader, paging, shortRuns, SMOKE, startBenchServer, tenReaders } from './cases';
import { spawnStalls } from './spawn';

let server: TestServer;
beforeAll(async () => {
  server = await startBenchServer(SMOKE);
});
afterAll(() => server.stop());

describe('benchmark smoke', () => {
  it('one reader over SSE and WebSocket, then ten at once', async () => {
    const one = await oneReader(server, SMOKE);
    for (const row of one.rows) expect(row.mismatches, row.case).toBe(0);
    for (const row of await tenReaders(server, SMOKE, one)) expect(row.mismatches, row.case).toBe(0);
  });

  it('many readers', async () => {
    const row = await manyReaders(server, SMOKE.manyReaders, SMOKE.manyLines);
    expect(row.mismatches).toBe(0);
    expect(row.met).toBe(true);
  });

  it('a fleet: through Redis to readers on two API nodes, and stops from the other node', async () => {
    const fleet = await startBenchFleet(SMOKE);
    try {
      expect((await fleetThroughput(fleet, SMOKE, 1)).mismatches).toBe(0);
      expect((await fleetStops(fleet, 2)).mismatches).toBe(0);
    } finally {
      await fleet.stop();
    }
  });

  it('starts at once, with the event loop read from /metrics; a start to its first line', async () => {
    for (const row of await spawnStalls(server, SMOKE)) expect(row.mismatches, row.case).toBe(0);
  });

  it('latency, large output, short runs, paging', async () => {
    expect((await latency(server, SMOKE, SMOKE.latencyReaders)).mismatches).toBe(0);
    expect((await bigOutput(server, SMOKE)).mismatches).toBe(0);
    expect((await shortRuns(server, SMOKE)).mismatches).toBe(0);
    expect((await paging(SMOKE)).mismatches).toBe(0);
  });
});
