import { z } from 'zod';

const count = z.number().int().nonnegative();

/** What a worker says of one tool of its tags: whether it can run it there, and why not. */
export const WorkerTool = z
  .object({
    name: z.string(),
    available: z.boolean(),
    unavailable_reason: z.string().nullable(),
    program: z.string().nullable().describe("where the program was found on the worker's tools' PATH"),
    version: z.string().nullable().describe('its version, when `npm run tools -- install` installed it (TOOLS_DIR/<name>-<version>)'),
  })
  .meta({ id: 'WorkerTool' });
export type WorkerTool = z.infer<typeof WorkerTool>;

/** One node of a fleet (REDIS_URL): an API node or a worker, as its last heartbeat left it. */
export const FleetNode = z
  .object({
    id: z.string(),
    role: z.enum(['api', 'worker']),
    host: z.string(),
    pid: z.number().int(),
    tags: z.array(z.string()).describe('the tags of the tools a worker runs (catalog `tag`, "default" for untagged tools)'),
    concurrency: count.describe('runs a worker takes at once (MAX_CONCURRENT_RUNS on it)'),
    running: z.array(z.string()).describe('the run ids it holds now'),
    started_at: z.iso.datetime({ offset: true }),
    heartbeat_at: z.iso.datetime({ offset: true }),
    alive: z.boolean().describe('whether its lease (FLEET_LEASE_S) is current; a dead worker\'s runs end as lost'),
    version: z.string().optional().describe("a live worker's OSS Runner version, as it last said"),
    tools: z.array(WorkerTool).optional().describe('the tools of its tags a live worker can run and why not, as it last said (every WORKER_TOOLS_CHECK_S, and at once when it changes)'),
  })
  .meta({ id: 'FleetNode' });
export type FleetNode = z.infer<typeof FleetNode>;

/** Jobs in the run queue of one tag (BullMQ). */
export const QueueCounts = z.object({ tag: z.string(), waiting: count, active: count, delayed: count, failed: count });
export type QueueCounts = z.infer<typeof QueueCounts>;

/** GET /fleet (admin): who is alive and what each runs, and the queues. */
export const Fleet = z.object({
  node_id: z.string().describe('the API node that answered'),
  nodes: z.array(FleetNode),
  queues: z.array(QueueCounts),
});
export type Fleet = z.infer<typeof Fleet>;

/** Counts only, for the public /health. */
export const FleetCounts = z.object({ api_nodes: count, workers: count, queued: count });
export type FleetCounts = z.infer<typeof FleetCounts>;
