/**
 * Which tools a worker can run, told to the API nodes. An API node runs no tool, so its own machine
 * says nothing of what the workers have installed or can enforce: each worker checks the tools of its
 * tags on its own machine (program found on its tools' PATH, limits enforceable, version) and keeps its
 * word in Redis (`<prefix>:tools:<node id>`, expiring unless renewed every WORKER_TOOLS_CHECK_S), and
 * says it on a channel (`<prefix>:tools`) when it starts, when something changed, and when it leaves,
 * so API nodes learn at once (fleet/fleetCatalog.ts).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { WorkerTool } from '../../../shared/src/schemas/fleet';
import { resolveProgram, type Catalog, type ToolEntry } from '../services/catalog';
import type { NodeInfo } from './fleetStore';
import type { Redis } from './redis';

/** A worker's word: the tools of its tags, as its machine can run them. */
export const WorkerTools = z.object({
  node_id: z.string(),
  host: z.string(),
  tags: z.array(z.string()),
  version: z.string(),
  tools: z.array(WorkerTool),
});
export type WorkerTools = z.infer<typeof WorkerTools>;

/** On the channel: a worker's word, or that it left. */
export const ToolsMessage = z.union([WorkerTools, z.object({ node_id: z.string(), gone: z.literal(true) })]);

export const toolsKey = (prefix: string, nodeId: string) => `${prefix}:tools:${nodeId}`;
export const toolsChannel = (prefix: string) => `${prefix}:tools`;

/**
 * The version of a program `npm run tools -- install` put in place: it keeps each version in
 * TOOLS_DIR/<name>-<version>/ and links bin/<name> there. Null for any other program.
 */
function installedVersion(program: string, toolsDir: string): string | null {
  try {
    const inside = path.relative(realpathSync(toolsDir), realpathSync(program));
    if (inside.startsWith('..')) return null;
    return /^[^/]+?-(\d[\w.+-]*)\//.exec(inside)?.[1] ?? null;
  } catch {
    return null;
  }
}

export function checkTool(entry: ToolEntry, machine: { catalog: Catalog; toolPath: string; toolsDir: string }): WorkerTool {
  const reason = machine.catalog.unavailableReason(entry);
  const program = resolveProgram(entry.cmd[0] ?? '', machine.toolPath);
  return { name: entry.name, available: reason === null, unavailable_reason: reason, program, version: program ? installedVersion(program, machine.toolsDir) : null };
}

export class WorkerToolsPublisher {
  private timer: NodeJS.Timeout | undefined;
  /** What was last said on the channel. */
  private said = '';
  private failing = false;

  constructor(
    private readonly deps: { redis: Redis; prefix: string; node: NodeInfo; version: string; catalog: Catalog; toolPath: string; toolsDir: string },
    private readonly options: { intervalMs: number; onError: (message: string, e: unknown) => void },
  ) {}

  /** The tools of this worker's tags, checked now. */
  check(): WorkerTools {
    const { node, catalog, version } = this.deps;
    const tools = catalog.entries().filter((e) => node.tags.includes(catalog.tagOf(e.name)));
    return { node_id: node.id, host: node.host, tags: node.tags, version, tools: tools.map((e) => checkTool(e, this.deps)) };
  }

  /** Says it now (before the worker takes runs), then checks again every interval. */
  async start(): Promise<void> {
    await this.publish();
    this.timer = setInterval(() => void this.publish(), this.options.intervalMs);
    this.timer.unref();
  }

  private async publish(): Promise<void> {
    const { redis, prefix, node } = this.deps;
    const text = JSON.stringify(this.check());
    // Kept a few checks past the last renewal: a worker that stopped saying it is unknown, not able.
    const ttlS = Math.ceil((3 * this.options.intervalMs) / 1000);
    try {
      const multi = redis.multi().set(toolsKey(prefix, node.id), text, 'EX', ttlS);
      if (text !== this.said) multi.publish(toolsChannel(prefix), text);
      for (const [error] of (await multi.exec()) ?? []) if (error) throw error;
      this.said = text;
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.options.onError('telling the API nodes which tools this worker can run failed (Redis unavailable?); trying again every WORKER_TOOLS_CHECK_S', e);
      this.failing = true;
    }
  }

  /** Says it leaves (it takes no more runs): API nodes stop counting on it at once. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    const { redis, prefix, node } = this.deps;
    await redis
      .multi()
      .del(toolsKey(prefix, node.id))
      .publish(toolsChannel(prefix), JSON.stringify({ node_id: node.id, gone: true }))
      .exec()
      .catch((e: unknown) => this.options.onError('telling the API nodes this worker leaves failed', e));
  }
}
