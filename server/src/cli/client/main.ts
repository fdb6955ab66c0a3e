/**
 * `npx oss-runner`: the command-line client of an OSS Runner server, for people and CI pipelines
 * (docs/cli.md). It talks REST and SSE only; `run --follow` and `logs -f` exit with the run's code
 * (exitCodes.ts), so a job can gate on a scan.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { Run, RunEnvelope, RunList } from '../../../../shared/src/schemas/run';
import type { ToolList } from '../../../../shared/src/schemas/tool';
import { newIdempotencyKey, request, RequestError, type Connection } from './api';
import { EXIT, exitCodeOf } from './exitCodes';
import { followLog } from './follow';
import { paramsOf, UsageError } from './params';
import { runsTable, summaryLines, toolsTable } from './print';

const USAGE = `usage: oss-runner <command> [options]

commands:
  tools                                      list the catalog
  run <tool> [--param name=value]... [-f]    start a run (prints its id); --follow streams its log,
                                             prints its summary and exits with its code
  logs <run_id> [-f]                         print a run's log; -f follows it until the run ends,
                                             then exits with its code, as run --follow does
  runs [--status S] [--name TOOL] [--limit N]  recent runs, newest first
  stop <run_id>                              stop a queued or running run

options:
  --url URL       the server (env OSS_RUNNER_URL, default http://127.0.0.1:8000)
  --key KEY       an API key or JWT (env OSS_RUNNER_KEY)
  --json          for machines: one JSON document, or JSON lines when following
  --give-up S     following: fail (exit ${EXIT.unreachable}) after S seconds without a connection (default 300)
  --idle S        following: reconnect when nothing came for S seconds, heartbeats included (default 60)

exit codes: the tool's own (128 + n: killed by signal n); ${EXIT.usage} usage, ${EXIT.refused} refused by the server (4xx),
${EXIT.unreachable} server unreachable, ${EXIT.failedToStart} failed to start, ${EXIT.stopped} stopped, ${EXIT.timedOut} timed out, ${EXIT.lost} lost (docs/cli.md)`;

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  param: { type: 'string', short: 'p', multiple: true, default: [] as string[] },
  follow: { type: 'boolean', short: 'f', default: false },
  status: { type: 'string' },
  name: { type: 'string' },
  limit: { type: 'string' },
  'give-up': { type: 'string', default: '300' },
  idle: { type: 'string', default: '60' },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsOptionsConfig;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const out = (text: string) => void process.stdout.write(`${text}\n`);
const note = (text: string) => void process.stderr.write(`${text}\n`);

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} ${value}: expected a number of seconds`);
  return n * 1000;
}

function one(args: string[], what: string): string {
  if (args.length !== 1 || !args[0]) throw new UsageError(`expected ${what}`);
  return args[0];
}

/** Streams a run's log to stdout until it ends; prints its summary; answers the exit code. */
async function follow(c: Connection, values: Values, runId: string): Promise<number> {
  const run = await followLog(c, {
    runId,
    giveUpMs: seconds('give-up', values['give-up']),
    idleMs: seconds('idle', values.idle),
    onLines: (lines, id) => (values.json ? out(JSON.stringify({ id, type: 'lines', lines })) : out(lines.join('\n'))),
    onNotice: (text) => note(`oss-runner: ${text}`),
  });
  if (values.json) out(JSON.stringify({ type: 'end', run }));
  else for (const line of summaryLines(run)) note(line);
  return exitCodeOf(run);
}

async function runCommand(c: Connection, values: Values, args: string[]): Promise<number> {
  const name = one(args, 'a tool name: oss-runner run <tool>');
  // The catalog types the parameters; an unknown tool is left to the server to refuse.
  const { items } = await request<ToolList>({ connection: c, method: 'GET', path: '/opensource-list' });
  const params = paramsOf(values.param, items.find((t) => t.name === name)?.params);
  const { run } = await request<RunEnvelope>({ connection: c, method: 'POST', path: `/set/${encodeURIComponent(name)}`, body: { params }, headers: { 'Idempotency-Key': newIdempotencyKey() } });
  if (!values.follow) {
    out(values.json ? JSON.stringify({ run }) : run.run_id);
    return 0;
  }
  if (values.json) out(JSON.stringify({ type: 'start', run }));
  else note(`oss-runner: run ${run.run_id} of ${run.name} ${run.status}`);
  return follow(c, values, run.run_id);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    (command || values.help ? out : note)(USAGE);
    return values.help ? 0 : EXIT.usage;
  }
  const c: Connection = {
    url: (values.url ?? process.env.OSS_RUNNER_URL ?? 'http://127.0.0.1:8000').replace(/\/+$/, ''),
    key: values.key ?? (process.env.OSS_RUNNER_KEY || undefined),
  };
  const print = (doc: unknown, text: string) => out(values.json ? JSON.stringify(doc) : text);
  switch (command) {
    case 'tools': {
      const list = await request<ToolList>({ connection: c, method: 'GET', path: '/opensource-list' });
      print(list, toolsTable(list.items));
      return 0;
    }
    case 'run':
      return runCommand(c, values, args);
    case 'logs': {
      const runId = one(args, 'a run id: oss-runner logs <run_id>');
      if (values.follow) return follow(c, values, runId);
      const res = await fetch(`${c.url}/runs/${encodeURIComponent(runId)}/log`, { headers: c.key ? { Authorization: `Bearer ${c.key}` } : {} });
      if (!res.ok) throw new RequestError(res.status, `GET /runs/${runId}/log: ${res.status} ${await res.text()}`);
      process.stdout.write(Buffer.from(await res.arrayBuffer()));
      return 0;
    }
    case 'runs': {
      const query = new URLSearchParams(Object.entries({ status: values.status, name: values.name, limit: values.limit }).filter((e): e is [string, string] => e[1] !== undefined));
      const list = await request<RunList>({ connection: c, method: 'GET', path: `/runs${query.size ? `?${query}` : ''}` });
      print(list, runsTable(list.items));
      return 0;
    }
    case 'stop': {
      const { run } = await request<{ run: Run }>({ connection: c, method: 'POST', path: `/runs/${encodeURIComponent(one(args, 'a run id: oss-runner stop <run_id>'))}/stop` });
      print({ run }, `run ${run.run_id} ${run.status}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    if (e instanceof UsageError || (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      note(`oss-runner: ${e.message}\n\n${USAGE}`);
      process.exitCode = EXIT.usage;
    } else if (e instanceof RequestError) {
      note(`oss-runner: ${e.message}`);
      process.exitCode = e.status >= 400 && e.status < 500 ? EXIT.refused : EXIT.unreachable;
    } else {
      note(`oss-runner: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exitCode = 1;
    }
  },
);
