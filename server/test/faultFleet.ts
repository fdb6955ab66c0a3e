/**
 * The pieces of the fault run (issue-21-fault-run.test.ts): a seeded schedule of starts, stops and
 * faults; the fleet's nodes, each behind relays of its own to Redis and PostgreSQL (so one node can be
 * cut alone, or every node from Redis at once), killed and started again; and a listener each
 * execution of a tool reports to, so a run executed twice shows.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { FleetBase, TestRedis } from './fleetHarness';
import { TEST_PG } from './fleetHarness';
import { spawnHelperOf, startServer, tempDir, waitFor, type TestServer } from './harness';
import { tcpRelay } from './tcpRelay';

/** A pseudo-random generator (mulberry32): the same seed gives the same schedule. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAULT_KINDS = ['kill-worker', 'kill-api', 'cut-redis', 'cut-postgres', 'cut-redis-all'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type Step =
  | { at: number; kind: 'start'; tool: string; lines: number; via: number }
  | { at: number; kind: 'stop'; pick: number; via: number }
  /** `node`: which node of the kind's targets, as a fraction; `forMs`: how long it is down or cut. */
  | { at: number; kind: FaultKind; node: number; forMs: number; freshDir: boolean };

/**
 * Starts, stops and faults at random times over `durationMs` (faults end by then: each lasts 1.5-6 s);
 * a quarter of the starts are of `oneAtATime`, a tool of concurrency 1.
 */
export function scheduleOf(rng: () => number, opts: { durationMs: number; starts: number; stops: number; faults: Record<FaultKind, number>; tools: [string, string] }): Step[] {
  const at = (until: number) => Math.floor(rng() * until);
  const steps: Step[] = [];
  for (let i = 0; i < opts.starts; i++) steps.push({ at: at(opts.durationMs - 4000), kind: 'start', tool: rng() < 0.25 ? opts.tools[1] : opts.tools[0], lines: 5 + Math.floor(rng() * 80), via: rng() });
  for (let i = 0; i < opts.stops; i++) steps.push({ at: 2000 + at(opts.durationMs - 2000), kind: 'stop', pick: rng(), via: rng() });
  for (const kind of FAULT_KINDS) {
    for (let i = 0; i < opts.faults[kind]; i++) steps.push({ at: 1000 + at(opts.durationMs - 7000), kind, node: rng(), forMs: 1500 + Math.floor(rng() * 4500), freshDir: rng() < 0.5 });
  }
  return steps.sort((a, b) => a.at - b.at);
}

type Relay = Awaited<ReturnType<typeof tcpRelay>>;

/** A relay that several faults may cut at once (a node's own cut, a cut of everyone's Redis): open again once the last restores it. */
export class SharedCut {
  private cuts = 0;
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly relay: Relay) {}

  get port(): number {
    return this.relay.port;
  }

  get open(): boolean {
    return this.cuts === 0;
  }

  cut(): Promise<void> {
    if (this.cuts++ === 0) this.chain = this.chain.then(() => this.relay.cut());
    return this.chain;
  }

  restore(): Promise<void> {
    if (--this.cuts === 0) this.chain = this.chain.then(() => this.relay.restore());
    return this.chain;
  }

  /** Resolves once the cuts and restores asked so far are done. */
  settled(): Promise<void> {
    return this.chain;
  }
}

/** One node of the fleet (an API node or a worker): its relays, and the processes it has been. */
export class NodeSlot {
  server: TestServer | undefined;
  /** Every LOG_DIR its processes used, newest last (a worker's holds its runs' own logs). */
  readonly logDirs: string[] = [];
  /** Every process it started and every spawn helper seen under them: none may outlive the test. */
  readonly pids = new Set<number>();
  /** Every process it has been, oldest first (their output tells what happened when a check fails). */
  readonly processes: TestServer[] = [];
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    readonly worker: boolean,
    readonly redis: SharedCut,
    readonly pg: SharedCut,
    private readonly launch: { base: FleetBase; catalogFile: string; env: Record<string, string> },
  ) {}

  static async create(name: string, worker: boolean, launch: { base: FleetBase; catalogFile: string; env: Record<string, string> }): Promise<NodeSlot> {
    const [redis, pg] = await Promise.all([tcpRelay(launch.base.redis.url), tcpRelay(TEST_PG)]);
    return new NodeSlot(name, worker, new SharedCut(redis), new SharedCut(pg), launch);
  }

  /** The faults of one node take turns: it is not killed while cut, nor cut while down. */
  exclusive(fault: () => Promise<void>): Promise<void> {
    const next = this.turn.then(fault);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /** Starts the node (again) once its relays are open, on its last LOG_DIR unless given another. */
  async start(logDir = this.logDirs.at(-1) ?? tempDir()): Promise<void> {
    await waitFor(`${this.name}'s relays to open`, () => this.redis.open && this.pg.open, 30_000);
    await Promise.all([this.redis.settled(), this.pg.settled()]);
    if (!this.logDirs.includes(logDir)) this.logDirs.push(logDir);
    const { base, catalogFile, env } = this.launch;
    const nodeEnv = { ...base.env, ...env, REDIS_URL: base.redisUrlVia(this.redis.port), DATABASE_URL: base.databaseUrlVia(this.pg.port) };
    this.server = await startServer({ catalogFile, logDir, env: nodeEnv, worker: this.worker, built: true });
    this.pids.add(this.server.proc.pid ?? 0);
    this.processes.push(this.server);
  }

  /** SIGKILL, as a crash. */
  async crash(): Promise<void> {
    await this.release()?.crash();
  }

  /** SIGTERM, and wait for the exit. */
  async stop(): Promise<void> {
    await this.release()?.stop();
  }

  /** The running server, no longer this node's, with its spawn helper noted (to be checked gone later); undefined when none runs. */
  private release(): TestServer | undefined {
    const server = this.server;
    this.server = undefined;
    const helper = server && server.proc.exitCode === null ? spawnHelperOf(server) : undefined;
    if (helper) this.pids.add(helper);
    return server;
  }

  /** Writes what each of its processes printed to `dir`, one file each; answers the files. */
  keepOutputs(dir: string): string[] {
    return this.processes.map((server, i) => {
      const file = path.join(dir, `${this.name}.${i + 1}.log`);
      writeFileSync(file, `${server.url} pid ${server.proc.pid} LOG_DIR ${server.logDir}\n${server.output()}`);
      return file;
    });
  }

  /** Processes of this node still alive (a pid reused by something else since is not counted). */
  leftovers(): number[] {
    return [...this.pids].filter((pid) => {
      if (!existsSync(`/proc/${pid}`)) return false;
      try {
        const state = /State:\s+(\w)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
        return state !== 'Z' && /node|spawn-helper|spawnHelperProcess/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false;
      }
    });
  }
}

/**
 * A TCP listener that each execution of a tool tells, as it begins, its run's key (`start <key>`):
 * twice for one key is one run executed twice.
 */
export async function executionLog(): Promise<{ port: number; executions: Map<string, number>; close(): void }> {
  const executions = new Map<string, number>();
  const server = net.createServer((socket) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const key of text.split('\n').flatMap((l) => /^start (\S+)$/.exec(l)?.[1] ?? [])) executions.set(key, (executions.get(key) ?? 0) + 1);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, executions, close: () => void server.close() };
}

/**
 * Why runs are still queued, as the fleet's stores see it: each run's job in the queue (its state, and
 * whether a worker holds its lock), the runs that count against their tool's concurrency, and the
 * database sessions left in a transaction or waiting on a lock. Printed with a violation, so that a
 * failure found once explains itself.
 */
export async function whyQueued(base: FleetBase<TestRedis | null>, runs: { run_id: string; name: string }[]): Promise<string[]> {
  const { REDIS_PREFIX: prefix = 'oss-runner', REDIS_URL: url = '' } = base.env;
  const queue = new Queue('runs.default', { connection: { url }, prefix });
  const redis = new Redis(url);
  try {
    const lines = await Promise.all(
      runs.map(async ({ run_id, name }) => {
        const state = await queue.getJobState(run_id);
        const locked = await redis.exists(`${prefix}:runs.default:${run_id}:lock`);
        return `${run_id} (${name}): its job is ${state}${locked ? ', locked by a worker' : ''}`;
      }),
    );
    const held = await base.admin.query<{ run_id: string; name: string; status: string; owner: string; process: boolean }>(
      `SELECT run_id, name, status, owner, process IS NOT NULL AS process FROM ${base.schema}.runs WHERE owner IS NOT NULL AND (status IN ('queued', 'running') OR process IS NOT NULL)`,
    );
    lines.push(...held.rows.map((r) => `held: ${r.run_id} (${r.name}) ${r.status} by ${r.owner}${r.process ? ', its process recorded' : ''}`));
    const sessions = await base.admin.query<{ pid: number; state: string; wait: string | null; for_s: number; query: string }>(
      `SELECT pid, state, wait_event_type AS wait, EXTRACT(EPOCH FROM now() - state_change)::int AS for_s, left(query, 100) AS query FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')`,
    );
    lines.push(...sessions.rows.map((s) => `session ${s.pid}: ${s.state}${s.wait ? ` (waiting: ${s.wait})` : ''} for ${s.for_s} s: ${s.query}`));
    return lines;
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
