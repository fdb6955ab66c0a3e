import { z } from 'zod';

const count = z.number().int().nonnegative();

/**
 * On a fleet's API node, where a tool can run: the live workers of its tag and what each said it can
 * run. A single server, which runs its tools itself, leaves it out.
 */
export const ToolPlacement = z
  .object({
    tag: z.string().describe('the tag of the workers that run it (catalog `tag`; "default" when the entry names none)'),
    workers: count.describe('live workers that serve the tag'),
    able: count.describe("of them, those that said they can run it: its program found on their tools' PATH, its limits enforceable there"),
    unknown: count.describe('of them, those that have not said yet (an older version, or its word lost with Redis): starts are accepted for them, and the worker checks'),
    unable: z.array(z.object({ reason: z.string(), workers: count })).describe('why the others cannot, each reason with the number of workers that gave it'),
    versions: z.array(z.string()).describe("the program's versions on the workers that can run it, where known (installed by `npm run tools -- install`)"),
  })
  .meta({ id: 'ToolPlacement' });
export type ToolPlacement = z.infer<typeof ToolPlacement>;

export const Tool = z
  .object({
    name: z.string(),
    description: z.string(),
    cmd: z.array(z.string()),
    available: z.boolean(),
    unavailable_reason: z.string().nullable(),
    params: z.record(z.string(), z.unknown()).describe('JSON Schema of the tool parameters'),
    artifacts: z.array(z.string()).describe('the files a run of it leaves, listed on the run when it ends'),
    run_as_root: z
      .boolean()
      .describe("true: the tool keeps the server's root privileges (a host audit); every other tool runs as an unprivileged user (RUN_AS_USER)"),
    fleet: ToolPlacement.optional().describe(
      "Only on a fleet's API node, which runs no tool: where it can run. `available` then says whether a live worker of its tag can (or has not said), and `unavailable_reason` why none can.",
    ),
  })
  .meta({ id: 'Tool' });
export type Tool = z.infer<typeof Tool>;

export const ToolList = z.object({ items: z.array(Tool) });
export type ToolList = z.infer<typeof ToolList>;
