/**
 * Issue 21, found by the fault run (FAULT_SEED=4): a worker cut from Redis while its run ends records
 * the end in PostgreSQL, then is killed before it can send the rest of the log. Nobody will send it: once
 * the worker's lease has run out, the API node's copy says what it lacks, in as many bytes as the record
 * counts, rather than serving a log that ended early as if whole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunEnvelope } from '../../shared/src/schemas/run';
import { fleetBase, type FleetBase } from './fleetHarness';
import { api, rawLog, readSse, startServer, tempDir, waitFor, writeCatalog, type TestServer } from './harness';
import { tcpRelay } from './tcpRelay';

const CATALOG = `tools:\n  - name: ticker\n    cmd: ["bash", "-c", "for i in $(seq 1 30); do echo tick $i; sleep 0.1; done"]\n`;

let base: FleetBase;
let node: TestServer;

beforeAll(async () => {
  base = await fleetBase({ FLEET_LEASE_S: '2' });
  node = await startServer({ catalog: CATALOG, env: base.env, built: true });
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await base?.close();
});

describe('issue 21: the log of a run whose worker died before sending all of it', () => {
  it('says what it lacks, in as many bytes as its record counts', async () => {
    const relay = await tcpRelay(base.redis.url);
    let cut = false;
    const worker = await startServer({ catalogFile: writeCatalog(tempDir(), CATALOG), env: { ...base.env, REDIS_URL: base.redisUrlVia(relay.port) }, worker: true, built: true });
    try {
      const started = await api<RunEnvelope>(node.url, 'POST', '/set/ticker');
      const runId = started.body.run.run_id;
      await readSse(`${node.url}/runs/${runId}/logs`, {}, (e) => !e.data.includes('tick 3'));
      await relay.cut();
      cut = true;
      // The run ends while its worker is away from Redis: its end lands in PostgreSQL, the rest of its log nowhere.
      const ended = await waitFor('the run to end', async () => {
        const r = (await api<RunEnvelope>(node.url, 'GET', `/runs/${runId}`)).body.run;
        return r.status === 'succeeded' ? r : undefined;
      });
      await worker.crash();
      await relay.restore();
      cut = false;
      const log = (await rawLog(node.url, runId)).toString();
      const whole = Array.from({ length: 30 }, (_, i) => `tick ${i + 1}\n`).join('');
      expect(ended).toMatchObject<Partial<Run>>({ exit_code: 0, log_bytes: whole.length });
      expect(log).toHaveLength(whole.length);
      expect(log.startsWith('tick 1\ntick 2\ntick 3\n')).toBe(true);
      const said = /\n\[oss-runner: (\d+) bytes of output are not on this node[^\]]*\]\n$/.exec(log);
      expect(said).not.toBeNull();
      // What precedes the gap is the log's own beginning.
      const kept = whole.length - Number(said?.[1]);
      expect(log.slice(0, kept)).toBe(whole.slice(0, kept));
    } finally {
      if (cut) await relay.restore();
      await worker.stop();
    }
  }, 60_000);
});
