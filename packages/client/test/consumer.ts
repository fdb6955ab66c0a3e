// A program outside the repository using @oss-runner/client (installed from its packed tarball) under
// moduleResolution NodeNext: typed calls, and a log subscription over the WebSocket to the run's end.
// server/test/clientPackage.test.ts copies it, with tsconfig.json, into a fresh folder. skipLibCheck:
// @trpc/server 11.22.1's own ws declarations do not check under NodeNext; the @ts-expect-error lines
// below still fail the check if this package's types resolve to `any`.
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink } from '@trpc/client';
import type { AppRouter, LogEventData, Run, RunStatus } from '@oss-runner/client';

const base = process.env.OSS_RUNNER_URL ?? 'http://127.0.0.1:8000';
const key = process.env.OSS_RUNNER_KEY ?? '';

const ws = createWSClient({ url: `${base.replace(/^http/, 'ws')}/trpc`, connectionParams: { token: key } });
const trpc = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: wsLink({ client: ws }),
      false: httpBatchLink({ url: `${base}/trpc`, headers: { Authorization: `Bearer ${key}` } }),
    }),
  ],
});

/** Never called: these lines only compile if the package's types are the real ones, not `any`. */
export function typesAreReal(run: Run): void {
  // @ts-expect-error runs.start takes `name`, not `tool`
  void trpc.runs.start.mutate({ tool: 'hello' });
  // @ts-expect-error a status is one of the statuses, never a number
  const status: number = run.status;
  const known: RunStatus = run.status;
  void [status, known];
}

const { items } = await trpc.catalog.list.query();
const { run } = await trpc.runs.start.mutate({ name: 'hello' });
const lines: string[] = [];
const final = await new Promise<Run>((resolve, reject) => {
  trpc.runs.logs.subscribe(
    { run_id: run.run_id },
    {
      onData: ({ data }: { data: LogEventData }) => {
        if (data.type === 'lines') lines.push(...data.lines);
        else resolve(data.run);
      },
      onError: reject,
    },
  );
});
console.log(JSON.stringify({ tools: items.map((t) => t.name), run_id: final.run_id, status: final.status, exit_code: final.exit_code, lines }));
await ws.close();
