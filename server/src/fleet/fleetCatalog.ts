/**
 * The catalog as a fleet's API node lists it: its tools are where the workers are, so each tool is
 * available when a live worker of its tag can run it, and says where it can run and why not (from what
 * the workers said: fleet/workerTools.ts). A start of a tool no live worker can run is refused here,
 * clearly, instead of waiting in a queue to fail on a worker: 409 when workers of its tag are up but
 * none can run it (as a single server answers for a tool it cannot run), 503 with Retry-After when no
 * worker of its tag is up at all (one may come).
 *
 * What the workers said is kept here and renewed every WORKER_TOOLS_CHECK_S (the live workers from
 * the leases in PostgreSQL, their words from Redis), and at once when a worker speaks on the channel,
 * so `/opensource-list`, which anyone may call, never waits on the database.
 */
import type { Tool, ToolPlacement } from '../../../shared/src/schemas/tool';
import type { WorkerTool } from '../../../shared/src/schemas/fleet';
import { conflict, unavailable, type DomainError } from '../errors';
import type { Catalog, CatalogView, ToolEntry } from '../services/catalog';
import type { FleetStore } from './fleetStore';
import type { Redis } from './redis';
import { toolsChannel, toolsKey, ToolsMessage, WorkerTools } from './workerTools';

/** A live worker, and its word (null: it has not said). */
interface LiveWorker {
  tags: string[];
  said: WorkerTools | null;
}

/** Seconds a start refused for want of a worker asks the client to wait. */
const NO_WORKER_RETRY_S = 5;

export class FleetCatalog implements CatalogView {
  private workers = new Map<string, LiveWorker>();
  /** Words heard while a refresh reads: newer than what it reads, so they win. */
  private heardDuringRefresh: Map<string, WorkerTools | null> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly deps: { catalog: Catalog; fleet: FleetStore; redis: Redis; subscriber: Redis; prefix: string },
    private readonly options: { leaseS: number; intervalMs: number; onError: (message: string, e: unknown) => void },
  ) {}

  /** Listens to the workers, reads what they said, and reads it again every interval. */
  async start(): Promise<void> {
    const channel = toolsChannel(this.deps.prefix);
    this.deps.subscriber.on('message', (from: string, message: string) => {
      if (from === channel) this.hear(message);
    });
    await this.deps.subscriber.subscribe(channel);
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private hear(message: string): void {
    let parsed: ReturnType<typeof ToolsMessage.parse>;
    try {
      parsed = ToolsMessage.parse(JSON.parse(message));
    } catch (e) {
      this.options.onError('a worker\'s list of the tools it can run could not be read', e);
      return;
    }
    const said = 'gone' in parsed ? null : parsed;
    if (said) this.workers.set(said.node_id, { tags: said.tags, said });
    else this.workers.delete(parsed.node_id);
    this.heardDuringRefresh?.set(parsed.node_id, said);
  }

  private async refresh(): Promise<void> {
    const { fleet, redis, prefix } = this.deps;
    this.heardDuringRefresh = new Map();
    try {
      const live = (await fleet.nodes(this.options.leaseS)).filter((n) => n.alive && n.role === 'worker');
      const words = live.length ? await redis.mget(live.map((n) => toolsKey(prefix, n.id))) : [];
      const next = new Map<string, LiveWorker>(live.map((n, i) => [n.id, { tags: n.tags, said: parseWord(words[i]) }]));
      for (const [id, said] of this.heardDuringRefresh) {
        if (said) next.set(id, { tags: said.tags, said });
        else next.delete(id);
      }
      this.workers = next;
      this.failing = false;
    } catch (e) {
      // What was last known stands meanwhile; starts fail anyway while the database or Redis is away.
      if (!this.failing) this.options.onError('reading which tools the workers can run failed; trying again every WORKER_TOOLS_CHECK_S', e);
      this.failing = true;
    } finally {
      this.heardDuringRefresh = null;
    }
  }

  /** Where a tool can run: the live workers of its tag, and what they said of it. */
  placement(name: string): ToolPlacement {
    const tag = this.deps.catalog.tagOf(name);
    const serving = [...this.workers.values()].filter((w) => w.tags.includes(tag));
    const placement: ToolPlacement = { tag, workers: serving.length, able: 0, unknown: 0, unable: [], versions: [] };
    const unable = new Map<string, number>();
    const cannot = (reason: string) => unable.set(reason, (unable.get(reason) ?? 0) + 1);
    for (const { said } of serving) {
      const tool: WorkerTool | undefined = said?.tools.find((t) => t.name === name);
      if (!said) placement.unknown++;
      else if (!tool) cannot('its catalog has no such tool (another CATALOG_FILE)');
      else if (!tool.available) cannot(tool.unavailable_reason ?? 'unavailable');
      else {
        placement.able++;
        if (tool.version && !placement.versions.includes(tool.version)) placement.versions.push(tool.version);
      }
    }
    placement.unable = [...unable].map(([reason, workers]) => ({ reason, workers }));
    return placement;
  }

  /** Why no live worker can run it, or null when one can (or has not said). */
  private reason(p: ToolPlacement): string | null {
    if (p.able + p.unknown > 0) return null;
    if (!p.workers) return `no live worker serves its tag "${p.tag}" (a worker with WORKER_TAGS=${p.tag})`;
    return `no live worker of tag "${p.tag}" can run it: ${p.unable.map((u) => `${u.reason} (${u.workers} worker${u.workers === 1 ? '' : 's'})`).join('; ')}`;
  }

  list(): Tool[] {
    return this.deps.catalog.list().map((tool) => {
      const fleet = this.placement(tool.name);
      const reason = this.reason(fleet);
      return { ...tool, available: reason === null, unavailable_reason: reason, fleet };
    });
  }

  /** A start refused here (409: none of the live workers can run it; 503: no worker of its tag is up), or null. */
  refusal(entry: ToolEntry): DomainError | null {
    const p = this.placement(entry.name);
    const reason = this.reason(p);
    if (!reason) return null;
    if (!p.workers) return unavailable(`tool "${entry.name}" cannot start now: ${reason}; try again once one is up`, NO_WORKER_RETRY_S);
    return conflict(`tool "${entry.name}" is not available on this fleet: ${reason}`);
  }

  /** What a live worker last said (for /fleet). */
  said(nodeId: string): WorkerTools | null {
    return this.workers.get(nodeId)?.said ?? null;
  }
}

/** A worker's word as kept in Redis; null when there is none (or none this version can read). */
function parseWord(text: string | null | undefined): WorkerTools | null {
  try {
    return text ? WorkerTools.parse(JSON.parse(text)) : null;
  } catch {
    return null;
  }
}
