/**
 * Typed tool parameters. A catalog entry declares them; `cmd` places each with a placeholder that is
 * a whole argv element (`{{name}}`) or the value of a `--flag={{name}}` element, so every value
 * becomes exactly one argv element and never part of a shell string. Values are checked here, with one
 * zod schema per tool built from its declaration (the same schema is published as JSON Schema).
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { RE2JS } from 're2js';
import { z } from 'zod';
import { badRequest, invalidFields } from '../errors';

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** Refused in every string and path value: C0 controls (NUL included), DEL and C1 controls. */
const CONTROLS = '\\u0000-\\u001f\\u007f-\\u009f';
/** Refused too: a half of a surrogate pair (no character; JSON Schema patterns cannot say it, so it is left out of them). */
const SURROGATES = '\\ud800-\\udfff';
/**
 * Refused unless an entry allows them (`allow_invisible`), and always in paths: characters that change
 * how text shows without showing (bidi embeddings, overrides and isolates, zero-width characters, the
 * byte order mark) and the Unicode line and paragraph separators. A value a reviewer reads must be the
 * value the tool gets.
 */
const INVISIBLE = '\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff';

/** The characters a value of `spec` may not hold, as the inside of a character class. */
const refusedChars = (spec: { allow_invisible?: boolean }) => (spec.allow_invisible ? CONTROLS : CONTROLS + INVISIBLE);

const INVISIBLE_RE = new RegExp(`[${INVISIBLE}]`, 'u');

/** A check that a value holds none of `chars`, naming the first it finds (the u flag: a lone surrogate is one character, a pair another). */
function refusing(chars: string) {
  const re = new RegExp(`[${chars}]`, 'u');
  return (v: string, ctx: z.RefinementCtx) => {
    const found = re.exec(v)?.[0];
    if (found === undefined) return;
    const kind = INVISIBLE_RE.test(found) ? 'invisible or direction-changing characters' : 'control characters';
    ctx.addIssue({ code: 'custom', message: `must not contain ${kind} (U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')})` });
  };
}

const common = { description: z.string().max(500).optional(), required: z.boolean().default(false) };

export const ParamSpec = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('string'),
    ...common,
    /** Matched by RE2 (re2js), in time linear in the value: a pattern RE2 cannot match so (backreferences, lookaround) is refused. */
    pattern: z
      .string()
      .superRefine((p, ctx) => {
        try {
          RE2JS.compile(p);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `must be a regular expression RE2 matches in linear time (no backreferences or lookaround): ${(e as Error).message}` });
        }
      })
      .optional(),
    max_length: z.number().int().positive().max(65536).default(1024),
    /** Values may begin with "-" only when this is set (they could pass for an option otherwise). */
    allow_dash: z.boolean().default(false),
    /** Values may hold invisible and direction-changing characters (bidi controls, zero-width characters, U+2028/2029) only when this is set. */
    allow_invisible: z.boolean().default(false),
    default: z.string().optional(),
  }),
  z.strictObject({ type: z.literal('enum'), ...common, values: z.array(z.string().min(1)).min(1), default: z.string().optional() }),
  z.strictObject({ type: z.literal('multi'), ...common, values: z.array(z.string().min(1)).min(1), default: z.array(z.string()).optional() }),
  z.strictObject({ type: z.literal('integer'), ...common, min: z.number().int().optional(), max: z.number().int().optional(), default: z.number().int().optional() }),
  z.strictObject({
    type: z.literal('boolean'),
    description: common.description,
    /** The argv element placed when true; the element is dropped when false. */
    flag: z.string().min(1),
    default: z.boolean().default(false),
  }),
  z.strictObject({
    type: z.literal('path'),
    ...common,
    /** Absolute directories the path must lie under, once resolved with symlinks followed. */
    roots: z.array(z.string().refine((r) => path.isAbsolute(r), 'each root must be an absolute path')).min(1),
    default: z.string().optional(),
  }),
]);
export type ParamSpec = z.infer<typeof ParamSpec>;

export const ParamSpecs = z.record(z.string().regex(NAME, 'parameter names are a-z, 0-9 and "_", starting with a letter'), ParamSpec);
export type ParamSpecs = z.infer<typeof ParamSpecs>;

/**
 * `{{name}}` as a whole element, or after a fixed prefix: `--flag={{name}}`, or a scheme such as
 * `sbom:{{name}}`. `{{artifacts}}` (a path the server makes, never user input) may stand anywhere in
 * an element, as in `--output=cyclonedx-json={{artifacts}}/sbom.json`.
 */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const WHOLE = /^\{\{([a-z][a-z0-9_]*)\}\}$/;
const FLAG_VALUE = /^(-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*=|[a-z][a-z0-9+.-]*:)\{\{([a-z][a-z0-9_]*)\}\}$/;
const ARTIFACTS = /^[^{}]*\{\{artifacts\}\}[^{}]*$/;

/**
 * Interpreters and the options after which their next argument is code to run: a value placed there
 * is a program the caller writes (`["bash", "-c", "{{x}}"]` would hand out a shell).
 */
const CODE_OPTIONS: Record<string, RegExp> = {
  // -c, alone or among other single-letter options (-lc, -ec)
  ...Object.fromEntries(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'fish', 'ash', 'busybox'].map((shell) => [shell, /^-[a-zA-Z]*c[a-zA-Z]*$/])),
  python: /^-[a-zA-Z]*c$/,
  pypy: /^-[a-zA-Z]*c$/,
  node: /^(-e|--eval|-p|--print)$/,
  deno: /^eval$/,
  perl: /^-[a-zA-Z]*[eE]$/,
  ruby: /^-[a-zA-Z]*e$/,
  php: /^-r$/,
  lua: /^-e$/,
};

/** The indexes of `cmd`'s elements that an interpreter runs as code (after `-c`, `-e` and the like). */
function codeElements(cmd: string[]): Set<number> {
  // `env [NAME=value...] program ...` runs `program`.
  let at = 0;
  if (path.basename(cmd[0] ?? '') === 'env') for (at = 1; at < cmd.length && (cmd[at]?.includes('=') || cmd[at]?.startsWith('-')); at++);
  // python3.11, bash5 and the like are their interpreter.
  const option = CODE_OPTIONS[path.basename(cmd[at] ?? '').replace(/[\d.]+$/, '')];
  const code = new Set<number>();
  if (option) for (let i = at + 1; i < cmd.length; i++) if (option.test(cmd[i] ?? '')) code.add(i + 1);
  return code;
}

/**
 * Problems with how `cmd` places the parameters, as `field: message` pairs (empty when fine).
 * `allowCode`: the entry says (allow_code_injection) that a parameter may be code its interpreter runs.
 */
export function checkPlacement(cmd: string[], specs: ParamSpecs, allowCode = false): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const code = allowCode ? new Set<number>() : codeElements(cmd);
  const placed = new Set<string>();
  cmd.forEach((element, i) => {
    const names = [...element.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
    if (names.length === 0) return;
    const field = `cmd.${i}`;
    if (ARTIFACTS.test(element)) return;
    const whole = WHOLE.exec(element)?.[1];
    const flagged = FLAG_VALUE.exec(element);
    const name = whole ?? flagged?.[2];
    if (!name) {
      problems.push({ field, message: `a placeholder must be a whole argv element ("{{name}}") or follow "--flag=" or a "scheme:" prefix, not inside "${element}"` });
      return;
    }
    const spec = specs[name];
    if (code.has(i)) problems.push({ field, message: `{{${name}}} would be code that ${cmd[0]} runs (its script after -c, -e or the like): anyone allowed to start the tool could run anything. Pass the value as an argument of the script instead (["bash", "-c", 'scan "$1"', "scan", "{{${name}}}"]), or set allow_code_injection: true if that is truly meant` });
    if (!spec) problems.push({ field, message: `{{${name}}} is not a declared parameter` });
    else if (spec.type === 'boolean' && !whole) problems.push({ field, message: `the boolean parameter "${name}" must be a whole element (it becomes its flag or nothing)` });
    placed.add(name);
  });
  for (const name of Object.keys(specs)) if (!placed.has(name)) problems.push({ field: `params.${name}`, message: 'declared but never placed in cmd' });
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type === 'enum' && spec.default !== undefined && !spec.values.includes(spec.default)) problems.push({ field: `params.${name}.default`, message: 'must be one of the values' });
    if (spec.type === 'multi' && spec.default?.some((d) => !spec.values.includes(d))) problems.push({ field: `params.${name}.default`, message: 'must be among the values' });
  }
  return problems;
}

function valueSchema(spec: ParamSpec): z.ZodType {
  switch (spec.type) {
    case 'string': {
      let s = z.string().max(spec.max_length).superRefine(refusing(refusedChars(spec) + SURROGATES));
      if (!spec.allow_dash) s = s.refine((v) => !v.startsWith('-'), 'must not begin with "-"');
      if (spec.pattern) {
        const re = RE2JS.compile(spec.pattern);
        s = s.refine((v) => re.test(v), `must match ${spec.pattern}`);
      }
      return s.describe(spec.description ?? '');
    }
    case 'enum':
      return z.enum(spec.values as [string, ...string[]]);
    case 'multi':
      return z
        .array(z.enum(spec.values as [string, ...string[]]))
        .refine((v) => new Set(v).size === v.length, 'must not name a value twice');
    case 'integer': {
      let n = z.number().int();
      if (spec.min !== undefined) n = n.min(spec.min);
      if (spec.max !== undefined) n = n.max(spec.max);
      return n;
    }
    case 'boolean':
      return z.boolean();
    case 'path':
      return z
        .string()
        .min(1)
        .max(4096)
        .superRefine(refusing(refusedChars({}) + SURROGATES))
        .refine((v) => !v.startsWith('-'), 'must not begin with "-"');
  }
}

/**
 * Each declaration's schema, built at its first use: a catalog entry's `params` is one object for the
 * entry's life, and building the schema (a RE2 pattern compiled, refinements made) cost more than
 * checking values with it, at every start. Weak: a catalog loaded anew brings new objects.
 */
const schemas = new WeakMap<ParamSpecs, ReturnType<typeof buildParamsSchema>>();

/** The zod schema of a tool's parameters: strict (unknown names are refused), defaults filled in. */
export function paramsSchema(specs: ParamSpecs) {
  let schema = schemas.get(specs);
  if (!schema) schemas.set(specs, (schema = buildParamsSchema(specs)));
  return schema;
}

function buildParamsSchema(specs: ParamSpecs) {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(specs)) {
    let s: z.ZodType = valueSchema(spec);
    if (spec.description) s = s.describe(spec.description);
    if (spec.default !== undefined) s = s.default(spec.default as never);
    else if (!('required' in spec) || !spec.required) s = s.optional();
    shape[name] = s;
  }
  return z.strictObject(shape);
}

/** The parameters as JSON Schema, for /opensource-list, the OpenAPI document and the web app's form. */
export function paramsJsonSchema(specs: ParamSpecs): Record<string, unknown> {
  const schema = z.toJSONSchema(paramsSchema(specs), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, spec] of Object.entries(specs)) {
    const p = properties[name];
    if (!p) continue;
    if (spec.type === 'string' || spec.type === 'path') {
      // What the checks above refuse, as a pattern: their characters, and a leading "-" unless allowed.
      const allowed = `[^${refusedChars(spec.type === 'string' ? spec : {})}]`;
      const checked = spec.type === 'string' && spec.allow_dash ? `^${allowed}*$` : `^(?:${allowed.replace(/^\[\^/, '[^\\-')}${allowed}*)?$`;
      // The catalog's own pattern, when it has one, stays `pattern`: readers look for it there.
      if (spec.type === 'string' && spec.pattern) Object.assign(p, { pattern: spec.pattern, allOf: [{ pattern: checked }] });
      else p.pattern = checked;
    }
    if (spec.type === 'path') Object.assign(p, { format: 'path', 'x-roots': spec.roots });
    if (spec.type === 'multi') p.uniqueItems = true;
  }
  delete schema.$schema;
  return schema;
}

const within = (dir: string, target: string) => target === dir || target.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

/**
 * Resolves a path value (relative ones against the first root) and throws unless it lies under a
 * root both as written and with symlinks followed. Whether a path outside the roots exists is never
 * told: that is checked only inside them.
 */
function resolvePath({ name, value, roots, forbidden }: { name: string; value: string; roots: string[]; forbidden: readonly string[] | null }): string {
  const absolute = path.resolve(roots[0] ?? '/', value);
  const notUnder = () => badRequest(`params.${name}: ${value} is not under ${roots.join(' or ')}`);
  if (!roots.some((root) => within(path.resolve(root), absolute))) throw notUnder();
  // Not this machine's files (a fleet's API node): the worker checks the rest on its own disk.
  if (forbidden === null) return absolute;
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    throw badRequest(`params.${name}: ${value} does not exist`);
  }
  const realRoots = roots.flatMap((root) => {
    try {
      return [realpathSync(root)];
    } catch {
      return [];
    }
  });
  if (!realRoots.some((root) => within(root, real))) throw notUnder();
  // A root that contains the server's data directory must not hand out its database or other runs' files.
  if (forbidden.some((dir) => within(dir, real) || within(real, dir))) throw badRequest(`params.${name}: ${value} is, or holds, the server's data directory`);
  return real;
}

/**
 * Checks the values sent for a tool (400 naming the parameter), with defaults filled in. Paths are
 * checked on this machine's disk against `forbidden` (the server's data directory); with null, only as
 * written (on a fleet's API node, whose disk is not where the tool runs).
 */
export function validateParams(specs: ParamSpecs, input: Record<string, unknown> | undefined, forbidden: readonly string[] | null = []): Record<string, unknown> {
  const parsed = paramsSchema(specs).safeParse(input ?? {});
  if (!parsed.success) {
    // Every field at fault, each on its own: one issue per unknown parameter too.
    const takes = `this tool takes ${Object.keys(specs).join(', ') || 'none'}`;
    throw invalidFields(
      parsed.error.issues.flatMap((issue) => {
        const at = ['params', ...issue.path.map(String)];
        if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...at, key].join('.'), message: `unknown parameter (${takes})` }));
        return [{ path: at.join('.'), message: issue.message }];
      }),
    );
  }
  const values = parsed.data as Record<string, unknown>;
  for (const [name, spec] of Object.entries(specs)) {
    const v = values[name];
    if (spec.type === 'path' && typeof v === 'string') values[name] = resolvePath({ name, value: v, roots: spec.roots, forbidden });
  }
  return values;
}

/** The argv with each placeholder replaced by its one value (a false boolean drops its element). */
export function buildArgv({ cmd, specs, values, artifactsDir }: { cmd: string[]; specs: ParamSpecs; values: Record<string, unknown>; artifactsDir: string }): string[] {
  const argv: string[] = [];
  for (const element of cmd) {
    if (ARTIFACTS.test(element)) {
      argv.push(element.replace('{{artifacts}}', () => artifactsDir)); // a function: no `$&` patterns from the path
      continue;
    }
    const whole = WHOLE.exec(element)?.[1];
    const flagged = FLAG_VALUE.exec(element);
    const name = whole ?? flagged?.[2];
    if (!name) {
      argv.push(element);
      continue;
    }
    const spec = specs[name];
    const value = values[name];
    if (value === undefined || spec === undefined) continue; // an optional parameter left out: its element goes too
    let text: string;
    if (spec.type === 'boolean') {
      if (value !== true) continue;
      text = spec.flag;
    } else if (Array.isArray(value)) text = value.join(',');
    else if (typeof value === 'number') text = String(value);
    else if (typeof value === 'string') text = value;
    else continue;
    argv.push(flagged ? `${flagged[1]}${text}` : text);
  }
  return argv;
}
