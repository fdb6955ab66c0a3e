/**
 * The catalog: the YAML whitelist of runnable tools, checked with zod when it is loaded. Only what it
 * names can run, and each `cmd` is an argv array that is executed directly, never through a shell.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { Tool } from '../../../shared/src/schemas/tool';
import { ReportFormat } from '../../../shared/src/schemas/summary';
import { SERVER_SECRETS } from '../config';
import { byteSize } from '../lib/byteSize';
import type { Capabilities, Capability } from '../../../shared/src/schemas/health';
import { checkPlacement, ParamSpecs, paramsJsonSchema } from './params';

const ArtifactName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'an artifact is a file name (letters, digits, ".", "_", "-"), not a path');

/** A declared artifact: a file name, or a name with its media type and the report format to summarise it as. */
const ArtifactSpec = z
  .union([
    ArtifactName,
    z.strictObject({
      name: ArtifactName,
      type: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a media type such as application/json').optional(),
      report: ReportFormat.optional().describe('read it into the run\'s summary as this format'),
    }),
  ])
  .transform((a) => (typeof a === 'string' ? { name: a, type: undefined, report: undefined } : a));

/** A tool's own limits; each one it sets is required: the tool is refused where the machine cannot enforce it. */
const Limits = z.strictObject({
  log_bytes: byteSize(1024).optional().describe('the log cap for this tool; MAX_LOG_BYTES otherwise'),
  memory_bytes: byteSize(1024 * 1024).optional(),
  pids: z.number().int().min(1).optional(),
  cpu_s: z.number().int().min(1).optional(),
  file_bytes: byteSize(1).optional(),
  disk_bytes: byteSize(1024).optional().describe('disk space the work and artifact directories may take together; RUN_DISK_BYTES otherwise'),
});

/** Which capability each limit a tool may set needs. */
const LIMIT_NEEDS = { memory_bytes: 'memory', pids: 'pids', cpu_s: 'cpu_time', file_bytes: 'file_size', disk_bytes: 'disk' } as const satisfies Partial<Record<keyof z.infer<typeof Limits>, Capability>>;

const ToolEntry = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit'),
  description: z.string().max(1000).default(''),
  cmd: z
    .array(
      z
        .string()
        .min(1, 'an argv element must not be empty')
        .refine((s) => !s.includes('\0'), 'an argv element must not contain a NUL byte'),
    )
    .min(1, 'must name the program to run'),
  timeout_s: z.number().int().positive().optional(),
  /** Runs of this tool going at once; more wait in the queue (MAX_CONCURRENT_RUNS still holds). */
  concurrency: z.number().int().positive().optional(),
  install_hint: z.string().max(1000).optional().describe('how to install the program, shown while it is missing'),
  params: ParamSpecs.default({}),
  limits: Limits.optional(),
  /** May the tool reach the network? `false` is required isolation; unset follows RUN_NETWORK where the sandbox works. */
  network: z.boolean().optional(),
  /**
   * Environment variables of the server this tool alone gets, beside RUN_ENV_ALLOWLIST's (a cloud
   * scanner's credentials, say): least privilege, every other tool goes without them.
   */
  env: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
        .refine((name) => !SERVER_SECRETS.has(name), 'the server\'s own secret is never given to a tool'),
    )
    .max(100)
    .default([]),
  /** Fixed environment variables for this tool alone: its settings (say, no update check), never secrets. */
  set_env: z
    .record(
      z.string(),
      z.string().max(4096).refine((v) => !v.includes('\0'), 'a value must not contain a NUL byte'),
    )
    .superRefine((vars, ctx) => {
      for (const name of Object.keys(vars)) {
        const problem = !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
          ? 'not an environment variable name'
          : SERVER_SECRETS.has(name)
            ? "the server's own secret is never given to a tool"
            : ['PATH', 'HOME', 'XDG_CACHE_HOME'].includes(name)
              ? 'set by the server'
              : null;
        if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
      }
    })
    .default({}),
  /**
   * A cache kept between runs (a scanner's vulnerability database), shared by the entries that name the
   * same one: LOG_DIR/cache/<name>, writable in the sandbox, given to the tool as XDG_CACHE_HOME.
   */
  cache: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a cache name: 1-64 characters of a-z, 0-9, ".", "_" or "-"')
    .optional(),
  /** The files the tool writes into `{{artifacts}}`: listed on the run when it ends, downloadable, uploaded to S3. */
  artifacts: z
    .array(ArtifactSpec)
    .max(100)
    .default([])
    .superRefine((list, ctx) => {
      const names = list.map((a) => a.name);
      names.forEach((name, i) => names.indexOf(name) !== i && ctx.addIssue({ code: 'custom', path: [i], message: `"${name}" is declared twice` }));
    }),
  /**
   * On a fleet (REDIS_URL): only workers that serve this tag (WORKER_TAGS) run the tool, on machines
   * that can reach what it scans. Untagged tools are "default". A single server ignores it.
   */
  tag: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a tag: 1-32 characters of a-z, 0-9, "_" or "-"')
    .optional(),
  /**
   * The tool keeps the server's root privileges (a host audit such as Lynis, which reads what only root
   * may). Every other tool runs as RUN_AS_USER when the server is root. A risk: see the README.
   */
  run_as_root: z.boolean().default(false),
  /**
   * A parameter may stand where an interpreter takes code to run (`bash -c {{x}}`, `python -c`,
   * `node -e`...): whoever may start the tool may then run anything as it. Refused unless set.
   */
  allow_code_injection: z.boolean().default(false),
  /** Which exit codes mean success and which mean findings; any other code is an error. */
  outcome: z
    .strictObject({ success: z.array(z.number().int()).default([0]), findings: z.array(z.number().int()).default([]) })
    .optional(),
}).superRefine((entry, ctx) => {
  for (const { field, message } of checkPlacement(entry.cmd, entry.params, entry.allow_code_injection)) ctx.addIssue({ code: 'custom', path: field.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message });
  // A cache is shared with unprivileged runs: a root tool trusting what they left there (a database) would be theirs.
  if (entry.run_as_root && entry.cache !== undefined) ctx.addIssue({ code: 'custom', path: ['cache'], message: 'an entry with run_as_root: true cannot share a cache with unprivileged runs' });
});
export type ToolEntry = z.infer<typeof ToolEntry>;

const CatalogFile = z.strictObject({
  tools: z.array(ToolEntry).min(1, 'the catalog must list at least one tool'),
});

export class CatalogError extends Error {}

/** The tag of tools that name none (a fleet's workers serve it unless told otherwise). */
export const DEFAULT_TAG = 'default';

/** Where a program named by `cmd[0]` resolves on the given PATH, or null when it does not. */
export function resolveProgram(program: string, searchPath: string): string | null {
  const candidates = program.includes('/')
    ? [path.resolve(program)]
    : searchPath
        .split(':')
        .filter(Boolean)
        .map((dir) => path.join(dir, program));
  for (const file of candidates) {
    try {
      // A start asks this of each directory before the one that has the program: a missing file is
      // answered without an exception (making one, with its stack, cost more than the lookup).
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not executable, or not a directory on the way: try the next directory
    }
  }
  return null;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const [root, index, ...rest] = issue.path;
  if (root === 'tools' && typeof index === 'number') {
    const entry: unknown = Array.isArray((raw as { tools?: unknown }).tools) ? (raw as { tools: unknown[] }).tools[index] : undefined;
    const name = entry && typeof entry === 'object' && 'name' in entry && typeof entry.name === 'string' ? ` "${entry.name}"` : '';
    const field = rest.length ? rest.join('.') : '(entry)';
    return `tool #${index + 1}${name}, field ${field}: ${issue.message}`;
  }
  return `${issue.path.length ? issue.path.join('.') : '(file)'}: ${issue.message}`;
}

/** Reads and checks a catalog file; throws a CatalogError naming the entry and field at fault. */
export function loadCatalogFile(file: string): ToolEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CatalogError(`catalog ${file}: cannot read it (${(e as Error).message})`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw new CatalogError(`catalog ${file}: invalid YAML: ${doc.errors[0]?.message ?? ''}`);
  const raw: unknown = doc.toJS();
  const parsed = CatalogFile.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${describeIssue(raw, i)}`);
    throw new CatalogError(`catalog ${file} is invalid:\n${lines.join('\n')}`);
  }
  const seen = new Set<string>();
  parsed.data.tools.forEach((tool, i) => {
    if (seen.has(tool.name)) throw new CatalogError(`catalog ${file} is invalid:\n  tool #${i + 1} "${tool.name}", field name: the name is used twice`);
    seen.add(tool.name);
  });
  return parsed.data.tools;
}

/** What the transports list of the catalog: this server's own view, or on a fleet's API node, the workers'. */
export interface CatalogView {
  list(): Tool[];
}

/** The loaded whitelist, with each program's availability looked up on the PATH tools get. */
export class Catalog implements CatalogView {
  private readonly byName: Map<string, ToolEntry>;
  /** Where each program was found last: looked at first, one stat rather than one per PATH directory at every start. */
  private readonly found = new Map<string, string>();

  constructor(
    entries: ToolEntry[],
    private readonly toolPath: string,
    private readonly capabilities?: Capabilities,
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  get(name: string): ToolEntry | undefined {
    return this.byName.get(name);
  }

  /** The tools that name this cache (one run of them all at a time). */
  sharing(cache: string): string[] {
    return [...this.byName.values()].filter((e) => e.cache === cache).map((e) => e.name);
  }

  entries(): ToolEntry[] {
    return [...this.byName.values()];
  }

  /** Every tag a run may be queued under (a fleet's queues). */
  tags(): string[] {
    return [...new Set([DEFAULT_TAG, ...[...this.byName.values()].flatMap((e) => (e.tag ? [e.tag] : []))])];
  }

  /** The queue a run of this tool goes to; a tool gone from the catalog goes to the default one, where a worker fails it. */
  tagOf(name: string): string {
    return this.get(name)?.tag ?? DEFAULT_TAG;
  }

  /**
   * Why a tool cannot run here, or null when it can: its program is missing (checked on every call,
   * so installing one needs no restart), or it requires a limit this machine cannot enforce.
   */
  unavailableReason(entry: ToolEntry): string | null {
    const needs: [string, Capability][] = Object.entries(LIMIT_NEEDS).flatMap(([limit, capability]) =>
      entry.limits?.[limit as keyof typeof LIMIT_NEEDS] === undefined ? [] : [[`limits.${limit}`, capability] as [string, Capability]],
    );
    if (entry.network === false) needs.push(['network: false', 'network_off']);
    if (!entry.run_as_root) needs.push(['an unprivileged user (it is not run_as_root)', 'unprivileged']);
    for (const [field, capability] of needs) {
      const can = this.capabilities?.[capability];
      if (can && !can.enforced) return `it requires ${field}, which this server cannot enforce: ${can.reason}`;
    }
    const program = entry.cmd[0] ?? '';
    if (this.installed(program)) return null;
    const where = program.includes('/') ? `at ${program}` : "on the tools' PATH";
    return `program "${program}" is not installed ${where}${entry.install_hint ? `; ${entry.install_hint}` : ''}`;
  }

  /** Whether `program` is on the tools' PATH now (where it was last found still holds it, or a new search finds it). */
  private installed(program: string): boolean {
    const last = this.found.get(program);
    if (last !== undefined && resolveProgram(last, '') !== null) return true;
    const file = resolveProgram(program, this.toolPath);
    if (file === null) this.found.delete(program);
    else this.found.set(program, file);
    return file !== null;
  }

  list(): Tool[] {
    return [...this.byName.values()].map((entry) => {
      const reason = this.unavailableReason(entry);
      return {
        name: entry.name,
        description: entry.description,
        cmd: entry.cmd,
        available: reason === null,
        unavailable_reason: reason,
        params: paramsJsonSchema(entry.params),
        artifacts: entry.artifacts.map((a) => a.name),
        run_as_root: entry.run_as_root,
      };
    });
  }
}
