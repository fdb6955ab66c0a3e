/**
 * What /fleet and /health tell of a fleet, from an API node: who is alive, and the queues.
 */
import type { Fleet, FleetCounts } from '../../../shared/src/schemas/fleet';
import type { FleetView } from '../services';
import type { Catalog } from '../services/catalog';
import type { FleetCatalog } from './fleetCatalog';
import type { FleetStore } from './fleetStore';
import type { RunQueue } from './runQueue';

export class FleetApi implements FleetView {
  constructor(
    private readonly nodeId: string,
    private readonly deps: { queue: RunQueue; fleet: FleetStore; catalog: Catalog; tools: Pick<FleetCatalog, 'said'> },
    private readonly options: { leaseS: number },
  ) {}

  async describe(): Promise<Fleet> {
    const [nodes, queues] = await Promise.all([this.deps.fleet.nodes(this.options.leaseS), this.deps.queue.counts(this.deps.catalog.tags())]);
    // What each live worker last said it can run.
    const told = nodes.map((n) => {
      const said = n.alive ? this.deps.tools.said(n.id) : null;
      return said ? { ...n, version: said.version, tools: said.tools } : n;
    });
    return { node_id: this.nodeId, nodes: told, queues };
  }

  async counts(): Promise<FleetCounts> {
    const nodes = await this.deps.fleet.nodes(this.options.leaseS);
    const alive = (role: string) => nodes.filter((n) => n.alive && n.role === role).length;
    const queued = await this.deps.queue
      .counts(this.deps.catalog.tags())
      .then((qs) => qs.reduce((n, q) => n + q.waiting + q.delayed, 0))
      .catch(() => 0);
    return { api_nodes: alive('api'), workers: alive('worker'), queued };
  }
}
