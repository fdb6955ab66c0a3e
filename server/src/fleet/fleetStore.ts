/**
 * What the nodes of a fleet agree on through PostgreSQL: which node holds which run (the `owner`
 * column, set by an atomic claim, so a run id is executed at most once), and every node's lease
 * (a heartbeat in the `nodes` table, on the database's clock, so the nodes' clocks never matter).
 *
 * A tool's `concurrency` and `cache` are held across the fleet by the claim itself: runs claimed and
 * not over are what holds them, counted under a transaction-scoped advisory lock of the tool (and of
 * the cache), so two claims never both see a free place. Nothing is left to release: a run's end frees
 * its place, and a node killed with SIGKILL holds nothing once its lease has run out.
 */
import type pg from 'pg';
import type { Run } from '../../../shared/src/schemas/run';
import type { FleetNode } from '../../../shared/src/schemas/fleet';
import type { Catalog } from '../services/catalog';
import { RunMustWait } from '../services/runs/intake';
import { transaction } from '../store/pgDb';
import { PgRunStore, toRun, type RunOwner, type RunRow } from '../store/pgRunStore';
import type { ProcessHandle, RunStore } from '../store/runStore';

export interface NodeInfo {
  id: string;
  role: 'api' | 'worker';
  host: string;
  pid: number;
  tags: string[];
  concurrency: number;
}

const now = () => new Date().toISOString();

/** What a run of a tool holds across the fleet besides itself; null for a tool with neither. */
export interface ClaimLimits {
  concurrency?: number | undefined;
  cache?: string | undefined;
  /** The tools that share the cache, this one among them. */
  cacheTools: string[];
}

export function claimLimitsOf(catalog: Pick<Catalog, 'get' | 'sharing'>): (name: string) => ClaimLimits | null {
  return (name) => {
    const entry = catalog.get(name);
    if (entry?.concurrency === undefined && entry?.cache === undefined) return null;
    return { concurrency: entry.concurrency, cache: entry.cache, cacheTools: entry.cache ? catalog.sharing(entry.cache) : [] };
  };
}

/**
 * A run that holds its tool's place and its cache ($3: the lease): claimed and not over, or its process
 * not yet gone (a run counted lost that its live worker is still ending), by a node whose lease runs.
 */
const HOLDS = `r.owner IS NOT NULL AND (r.status IN ('queued', 'running') OR r.process IS NOT NULL)
  AND r.owner IN (SELECT id FROM nodes WHERE heartbeat_at > now() - make_interval(secs => $3))`;

export class FleetStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Renews the node's lease and says what it runs now. */
  async heartbeat(node: NodeInfo, running: string[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO nodes (id, role, host, pid, tags, concurrency, running) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), running = EXCLUDED.running`,
      [node.id, node.role, node.host, node.pid, JSON.stringify(node.tags), node.concurrency, JSON.stringify(running)],
    );
  }

  /** A node that stops cleanly leaves at once (its runs have ended). */
  async leave(nodeId: string): Promise<void> {
    await this.pool.query('DELETE FROM nodes WHERE id = $1', [nodeId]);
  }

  /** Forgets nodes silent for `forgetAfterS` (a day by default), and stops asked for runs that have ended. */
  async prune(forgetAfterS = 24 * 3600): Promise<void> {
    await this.pool.query('DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $1)', [forgetAfterS]);
    // A stop is kept until its run has ended.
    await this.pool.query("DELETE FROM stop_requests s USING runs r WHERE r.run_id = s.run_id AND r.status NOT IN ('queued', 'running')");
  }

  /** Every node remembered, by role, newest first, alive when its lease has not run out. */
  async nodes(leaseS: number): Promise<FleetNode[]> {
    const { rows } = await this.pool.query<Omit<FleetNode, 'started_at' | 'heartbeat_at'> & { started_at: Date; heartbeat_at: Date }>(
      `SELECT id, role, host, pid, tags, concurrency, running, started_at, heartbeat_at,
              heartbeat_at > now() - make_interval(secs => $1) AS alive
       FROM nodes ORDER BY role, started_at DESC`,
      [leaseS],
    );
    return rows.map((r) => ({ ...r, started_at: r.started_at.toISOString(), heartbeat_at: r.heartbeat_at.toISOString() }));
  }

  /**
   * Takes a queued run for this node; undefined when it was stopped, or another node has it. A run whose
   * tool has limits (`limitsOf`) is taken only in its turn: throws RunMustWait while its tool's places or
   * its cache are held, or an older run of its tool still waits.
   */
  async claim(runId: string, nodeId: string, { limitsOf, leaseS }: { limitsOf: (name: string) => ClaimLimits | null; leaseS: number }): Promise<Run | undefined> {
    const take = "UPDATE runs SET owner = $2 WHERE run_id = $1 AND status = 'queued' AND owner IS NULL RETURNING *";
    const { rows: queued } = await this.pool.query<{ name: string; seq: number }>("SELECT name, seq FROM runs WHERE run_id = $1 AND status = 'queued' AND owner IS NULL", [runId]);
    const run = queued[0];
    if (!run) return undefined;
    const limits = limitsOf(run.name);
    if (!limits) {
      const { rows } = await this.pool.query<RunRow>(take, [runId, nodeId]);
      return rows[0] && toRun(rows[0]);
    }
    return transaction(this.pool, async (client) => {
      // Claims of one tool (and of one cache) take their turns: each sees what the one before it took.
      if (limits.concurrency !== undefined) await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('tool:' || $1))", [run.name]);
      if (limits.cache !== undefined) await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('cache:' || $1))", [limits.cache]);
      const { rows: turn } = await client.query<{ older: boolean; running: number; cache_busy: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM runs WHERE name = $1 AND status = 'queued' AND owner IS NULL AND seq < $2) AS older,
                (SELECT COUNT(*) FROM runs r WHERE r.name = $1 AND ${HOLDS}) AS running,
                EXISTS (SELECT 1 FROM runs r WHERE r.name = ANY($4) AND ${HOLDS}) AS cache_busy`,
        [run.name, run.seq, leaseS, limits.cacheTools],
      );
      const { older, running, cache_busy } = turn[0] ?? { older: false, running: 0, cache_busy: false };
      if (older) throw new RunMustWait(`an older run of "${run.name}" goes first`);
      if (limits.concurrency !== undefined && running >= limits.concurrency) throw new RunMustWait(`"${run.name}" runs ${running} at a time already (its concurrency)`);
      if (cache_busy) throw new RunMustWait(`its cache "${limits.cache ?? ''}" is in use`);
      const { rows } = await client.query<RunRow>(take, [runId, nodeId]);
      return rows[0] && toRun(rows[0]);
    });
  }

  /** Stops a run no worker has claimed yet; undefined when one has (then the stop goes to that worker). */
  async stopQueued(runId: string, stoppedBy: string | null): Promise<Run | undefined> {
    const { rows } = await this.pool.query<RunRow>(
      "UPDATE runs SET status = 'stopped', end_reason = 'stopped', stopped_by = $2, finished_at = $3 WHERE run_id = $1 AND status = 'queued' AND owner IS NULL RETURNING *",
      [runId, stoppedBy, now()],
    );
    return rows[0] && toRun(rows[0]);
  }

  /** Fails a run no worker has claimed yet, so none can claim it afterwards; undefined when one has (or it was stopped). */
  async failUnclaimed(runId: string, error: string): Promise<Run | undefined> {
    const { rows } = await this.pool.query<RunRow>(
      "UPDATE runs SET status = 'failed', end_reason = 'spawn_error', error = $2, finished_at = $3 WHERE run_id = $1 AND status = 'queued' AND owner IS NULL RETURNING *",
      [runId, error, now()],
    );
    return rows[0] && toRun(rows[0]);
  }

  /**
   * Keeps a stop asked for a run a worker holds until the run ends: the worker hears it over pub/sub,
   * or reads it at its next heartbeat (`stopsAmong`) should it have missed the message.
   */
  async requestStop(runId: string, stoppedBy: string | null): Promise<void> {
    await this.pool.query('INSERT INTO stop_requests (run_id, stopped_by) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING', [runId, stoppedBy]);
  }

  /** The stops asked for any of these runs. */
  async stopsAmong(runIds: string[]): Promise<{ run_id: string; by: string | null }[]> {
    const { rows } = await this.pool.query<{ run_id: string; by: string | null }>('SELECT run_id, stopped_by AS by FROM stop_requests WHERE run_id = ANY($1)', [runIds]);
    return rows;
  }

  /** The node that holds a run, if any. */
  async ownerOf(runId: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ owner: string | null }>('SELECT owner FROM runs WHERE run_id = $1', [runId]);
    return rows[0]?.owner ?? null;
  }

  /** Whether no node with a running lease holds the run (its worker was killed, left, or never took it). */
  async ownerGone(runId: string, leaseS: number): Promise<boolean> {
    const { rows } = await this.pool.query(
      'SELECT 1 FROM runs r JOIN nodes n ON n.id = r.owner WHERE r.run_id = $1 AND n.heartbeat_at > now() - make_interval(secs => $2)',
      [runId, leaseS],
    );
    return rows.length === 0;
  }

  /**
   * Runs held by nodes whose lease ran out (a worker killed, or cut off from the database for a whole
   * lease) end as `lost`. Answers the runs it ended; their process handles stay for `leftovers`.
   */
  async reap(leaseS: number): Promise<Run[]> {
    const { rows } = await this.pool.query<RunRow>(
      `UPDATE runs SET status = 'lost', end_reason = 'lost', finished_at = $2,
              error = 'the node that ran it stopped answering (its lease ran out, or a single server running it died); its processes died with it'
       WHERE (status IN ('queued', 'running') AND owner IS NOT NULL
              AND owner NOT IN (SELECT id FROM nodes WHERE heartbeat_at > now() - make_interval(secs => $1)))
          -- Running with no owner: left by a single server that died before the database served a fleet.
          OR (status = 'running' AND owner IS NULL)
       RETURNING *`,
      [leaseS, now()],
    );
    return rows.map(toRun);
  }

  /**
   * Lost runs that ran on this host and still name a process, with the pid of the worker that ran them:
   * when that worker is gone, any process of theirs still alive (where no PID namespace ended it with
   * its worker) is for the caller to end, and then `forgetProcess`.
   */
  async leftovers(host: string): Promise<{ runId: string; process: ProcessHandle; owner: string; workerPid: number }[]> {
    const { rows } = await this.pool.query<{ run_id: string; process: ProcessHandle; owner: string; pid: number }>(
      `SELECT runs.run_id, runs.process, runs.owner, nodes.pid FROM runs JOIN nodes ON nodes.id = runs.owner
       WHERE runs.status = 'lost' AND runs.process IS NOT NULL AND nodes.host = $1 AND nodes.role = 'worker' LIMIT 100`,
      [host],
    );
    return rows.map((r) => ({ runId: r.run_id, process: r.process, owner: r.owner, workerPid: r.pid }));
  }

  /** A worker's run store: it changes a run only while the run is its own and goes on (RunOwner). */
  ownedRuns(owned: RunOwner): RunStore {
    return new PgRunStore(this.pool, owned);
  }

  /** Runs recorded as this node's that have not ended. */
  async unfinishedOf(nodeId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ run_id: string }>("SELECT run_id FROM runs WHERE owner = $1 AND status IN ('queued', 'running')", [nodeId]);
    return rows.map((r) => r.run_id);
  }

  /**
   * Runs recorded as this live node's that it no longer has (neither running them nor recording their
   * end) end as `lost`: the reaper judges only the runs of dead nodes. Answers the runs it ended.
   */
  async loseForgotten(nodeId: string, runIds: string[]): Promise<Run[]> {
    const { rows } = await this.pool.query<RunRow>(
      `UPDATE runs SET status = 'lost', end_reason = 'lost', finished_at = $3,
              error = 'its worker, still in the fleet, no longer had it (it ended without a record that landed, or was never started there)'
       WHERE owner = $1 AND run_id = ANY($2) AND status IN ('queued', 'running') RETURNING *`,
      [nodeId, runIds, now()],
    );
    return rows.map(toRun);
  }

  /** Which of these runs, held by this node, the fleet counts lost. */
  async lostAmong(nodeId: string, runIds: string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ run_id: string }>("SELECT run_id FROM runs WHERE owner = $1 AND status = 'lost' AND run_id = ANY($2)", [nodeId, runIds]);
    return rows.map((r) => r.run_id);
  }

  async forgetProcess(runId: string): Promise<void> {
    await this.pool.query('UPDATE runs SET process = NULL WHERE run_id = $1', [runId]);
  }

  /** Runs queued longer than `olderThanS` that no worker has claimed: given to the queue again (Redis may have lost them). */
  async unclaimed(olderThanS: number): Promise<{ run_id: string; name: string }[]> {
    const before = new Date(Date.now() - olderThanS * 1000).toISOString();
    const { rows } = await this.pool.query<{ run_id: string; name: string }>(
      "SELECT run_id, name FROM runs WHERE status = 'queued' AND owner IS NULL AND created_at < $1 ORDER BY seq LIMIT 1000",
      [before],
    );
    return rows;
  }
}
