import { z } from 'zod';

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
  })
  .meta({ id: 'Tool' });
export type Tool = z.infer<typeof Tool>;

export const ToolList = z.object({ items: z.array(Tool) });
export type ToolList = z.infer<typeof ToolList>;
