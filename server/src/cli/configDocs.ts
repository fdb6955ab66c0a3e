/**
 * `npm run docs:config`: writes the configuration reference (docs/configuration.md) and .env.example
 * from the zod schema in config.ts, so neither can say what the server does not do. Each variable's
 * meaning is its `.describe()` text there, and its default is read from the schema; this file adds
 * only the grouping, the examples and what an unset variable without a default means. A test compares
 * both files with what this writes (configDocs.test.ts).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Env } from '../config';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const REFERENCE_FILE = path.join(ROOT, 'docs/configuration.md');
export const ENV_EXAMPLE_FILE = path.join(ROOT, '.env.example');

type Name = keyof typeof Env.shape;

interface Shown {
  /** A value worth showing in .env.example where there is no default. */
  example?: string;
  /** What the server does when a variable without a default is not set. */
  unset?: string;
}

interface Section {
  title: string;
  /** Markdown; also the comment above the section in .env.example. */
  intro?: string;
  /** The page of docs/ that tells the rest. */
  more?: string;
  settings: Partial<Record<Name, Shown>>;
}

const SECTIONS: readonly Section[] = [
  {
    title: 'Server',
    settings: {
      PORT: {},
      HOST: {},
      LOG_DIR: {},
      CATALOG_FILE: {},
      APP_NAME: {},
      TOOLS_DIR: { unset: '`OSS_RUNNER_CACHE/tools`' },
      OSS_RUNNER_CACHE: { unset: '`/var/cache/oss-runner` as root, else `$XDG_CACHE_HOME/oss-runner` (`~/.cache/oss-runner`)' },
      NODE_ENV: {},
    },
  },
  {
    title: 'Authentication',
    intro: 'With none of `ADMIN_API_KEY`, `AUTH_JWT_SECRET`, `AUTH_JWKS_URL` or `AUTH_DISABLED` set and no API key stored yet, the first start creates an admin API key and prints it once.',
    more: 'api.md#authentication-and-roles',
    settings: {
      ADMIN_API_KEY: {},
      AUTH_JWT_SECRET: {},
      AUTH_JWKS_URL: { example: 'https://idp.example.com/.well-known/jwks.json' },
      AUTH_JWT_ISSUER: {},
      AUTH_JWT_AUDIENCE: {},
      AUTH_JWT_CLOCK_TOLERANCE_S: {},
      AUTH_JWKS_COOLDOWN_S: {},
      AUTH_DISABLED: {},
      AUTH_RECHECK_S: {},
      LOG_TOKEN_TTL_S: {},
    },
  },
  {
    title: 'Requests and connections',
    more: 'operations.md#behind-a-reverse-proxy',
    settings: {
      START_RATE_PER_MINUTE: {},
      AUTH_FAILURES_PER_MINUTE: {},
      AUTH_FAILURES_WINDOW_S: {},
      TRUSTED_PROXIES: { example: '127.0.0.1' },
      ALLOWED_ORIGINS: { example: 'http://localhost:5173', unset: "none (the WebSocket: the server's own)" },
      MAX_BODY_BYTES: {},
      WS_MESSAGES_PER_MINUTE: {},
      TRPC_MAX_BATCH: {},
      HTTP_HEADERS_TIMEOUT_S: {},
      SSE_HEARTBEAT_S: {},
    },
  },
  {
    title: 'Database',
    more: 'operations.md#where-data-lives',
    settings: {
      DATABASE_URL: { example: 'postgres://oss_runner@127.0.0.1:5432/oss_runner', unset: 'SQLite in `LOG_DIR`' },
    },
  },
  {
    title: 'Fleet',
    intro: 'With Redis (and `DATABASE_URL`) `npm start` is an API node and `npm run worker` a worker.',
    more: 'fleet.md',
    settings: {
      REDIS_URL: { example: 'redis://127.0.0.1:6379', unset: 'a single server' },
      REDIS_PREFIX: {},
      WORKER_TAGS: {},
      FLEET_LEASE_S: {},
      FLEET_HEARTBEAT_S: { unset: 'a sixth of `FLEET_LEASE_S`' },
      FLEET_WAIT_RETRY_S: {},
      WORKER_TOOLS_CHECK_S: {},
      LOG_STREAM_TTL_S: {},
    },
  },
  {
    title: 'Runs',
    more: 'security.md',
    settings: {
      RUN_TIMEOUT_S: {},
      STOP_GRACE_S: {},
      SHUTDOWN_GRACE_S: {},
      MAX_CONCURRENT_RUNS: {},
      STARTS_PER_TURN: {},
      READY_MIN_FREE_BYTES: {},
      LOG_TIMES_RESOLUTION_MS: {},
      LOG_TIMES_MAX_ENTRIES: {},
      RUN_ENV_ALLOWLIST: {},
      PROCESS_ISOLATION: {},
      RUN_AS_USER: {},
    },
  },
  {
    title: 'Schedules',
    intro: 'Every server, and every API node of a fleet, fires the schedules that are due; each occurrence runs once.',
    more: 'api.md#schedules',
    settings: {
      SCHEDULE_GRACE_S: {},
      SCHEDULE_TICK_MS: {},
      SCHEDULES_ROLE: {},
      SCHEDULES_MAX: {},
    },
  },
  {
    title: 'Default limits of a run',
    intro: "For tools whose catalog entry sets none of its own. Enforced where the machine can: `GET /health` lists what is, and why not; a limit a tool's entry sets is required.",
    more: 'catalog.md#limits-and-network',
    settings: {
      MAX_LOG_BYTES: {},
      RUN_MEMORY_BYTES: {},
      RUN_PIDS: {},
      RUN_CPU_S: {},
      RUN_FILE_BYTES: {},
      RUN_DISK_BYTES: {},
      RUN_NETWORK: {},
    },
  },
  {
    title: 'Retention',
    intro: 'Both rules for runs are off by default (every run is kept): set one to bound the disk used.',
    more: 'operations.md#retention',
    settings: {
      RETENTION_DAYS: {},
      RETENTION_KEEP_PER_TOOL: {},
      RETENTION_INTERVAL_S: {},
      AUDIT_RETENTION_DAYS: {},
      AUDIT_MAX_ROWS: {},
      AUDIT_COALESCE_S: {},
    },
  },
  {
    title: 'S3 archive',
    more: 'catalog.md#artifacts-and-s3',
    settings: {
      S3_BUCKET: { example: 'oss-runner' },
      S3_ENDPOINT: { example: 'http://127.0.0.1:9000', unset: 'AWS' },
      S3_REGION: {},
      S3_ACCESS_KEY_ID: { unset: 'the AWS default chain (environment, shared files, instance roles)' },
      S3_SECRET_ACCESS_KEY: { unset: 'the AWS default chain' },
      S3_FORCE_PATH_STYLE: { example: 'true', unset: '`true` with `S3_ENDPOINT`' },
      S3_PREFIX: {},
      S3_PRESIGN_TTL_S: {},
    },
  },
  {
    title: 'Notifications',
    intro: 'Webhook endpoints are managed over the API (`/webhooks`, admin); these settings bound how deliveries are made.',
    more: 'notifications.md',
    settings: {
      PUBLIC_URL: { example: 'https://runner.example.com', unset: 'the address the server prints at start' },
      WEBHOOK_ALLOWED_NETWORKS: { example: '10.20.0.0/16', unset: 'none: loopback, private and link-local addresses are refused' },
      WEBHOOK_TIMEOUT_S: {},
      WEBHOOK_RETRY_BASE_S: {},
      WEBHOOK_RETRY_MAX_INTERVAL_S: {},
      WEBHOOK_RETRY_FOR_S: {},
      WEBHOOK_POLL_S: {},
      WEBHOOK_CONCURRENCY: {},
      WEBHOOK_DELIVERY_RETENTION_DAYS: {},
    },
  },
  {
    title: 'Logs and metrics',
    more: 'operations.md#logs',
    settings: {
      LOG_LEVEL: {},
      LOG_FORMAT: {},
      LOG_BUFFER_BYTES: {},
      METRICS_ROLE: {},
      METRICS_PORT: { example: '9464', unset: 'not served apart' },
      METRICS_HOST: {},
    },
  },
];

interface Setting extends Shown {
  name: Name;
  description: string;
  /** The default as one would write it in the environment; undefined when there is none. */
  value: string | undefined;
  /** Whether the variable takes byte units ("512MiB"). */
  units: boolean;
}

/** The default a variable gets when it is not set, as written in the environment (before any transform). */
function inputDefault(schema: z.ZodType): unknown {
  if (schema instanceof z.ZodDefault) return (schema.def as { defaultValue: unknown }).defaultValue;
  if (schema instanceof z.ZodPipe) return inputDefault(schema.in as z.ZodType);
  return undefined;
}

const IEC: [string, number][] = [
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
];

/** 67108864 as "64MiB" (exact multiples only). */
function withUnit(bytes: number): string {
  const [unit, size] = IEC.find(([, size]) => bytes >= size && bytes % size === 0) ?? ['', 1];
  return `${bytes / size}${unit}`;
}

/** Every variable of the schema, in the sections' order; throws when one is left out, described twice or not at all. */
export function settings(): { section: Section; settings: Setting[] }[] {
  const names = Object.keys(Env.shape) as Name[];
  const placed = SECTIONS.flatMap((s) => Object.keys(s.settings));
  const missing = names.filter((n) => !placed.includes(n));
  const unknown = placed.filter((n, i) => !names.includes(n as Name) || placed.indexOf(n) !== i);
  if (missing.length || unknown.length) throw new Error(`configDocs.ts SECTIONS must name each variable of config.ts once: missing ${missing.join(', ') || 'none'}; unknown or twice ${unknown.join(', ') || 'none'}`);
  return SECTIONS.map((section) => ({
    section,
    settings: (Object.entries(section.settings) as [Name, Shown][]).map(([name, shown]) => {
      const schema = Env.shape[name] as z.ZodType;
      if (!schema.description) throw new Error(`config.ts: ${name} has no .describe() text`);
      const raw = inputDefault(schema);
      const units = name.endsWith('_BYTES') && schema.safeParse('1GiB').success;
      // Defaults are strings, numbers and booleans: what an environment variable can say.
      let value = typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
      if (typeof raw === 'number' && units) value = withUnit(raw);
      // A path inside the checkout (the shipped catalog) is shown as the repository knows it, not as this machine's absolute path.
      if (typeof raw === 'string' && path.isAbsolute(raw) && raw.startsWith(ROOT + path.sep)) value = path.relative(ROOT, raw);
      return { name, description: schema.description, value, units, ...shown };
    }),
  }));
}

const anchorOf = (title: string) => title.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
const cell = (text: string) => text.replaceAll('|', '\\|');

function shownDefault(s: Setting): string {
  if (s.value === undefined) return s.unset ?? 'none';
  if (s.value === '') return '(empty)';
  // Byte counts that take no unit get their size in words beside them.
  const size = s.name.endsWith('_BYTES') && !s.units && /^\d+$/.test(s.value) ? ` (${withUnit(Number(s.value)).replace(/(\d)([KMG])/, '$1 $2')})` : '';
  return `\`${s.value}\`${size}`;
}

/** docs/configuration.md */
export function renderReference(): string {
  const groups = settings();
  const out = [
    '<!-- Written by `npm run docs:config` from server/src/config.ts: edit the descriptions there, not here. -->',
    '',
    '# Configuration',
    '',
    'OSS Runner is configured by environment variables; a `.env` file in the directory the server starts',
    'from is read too (the environment wins over it), and [`.env.example`](../.env.example) lists every',
    'variable with its default. A bad value stops the server with a message naming the variable. Byte',
    'counts whose default is shown with a unit take one (`512MiB`, `2GB`, `100k`) or a plain number.',
    '',
    ...groups.map(({ section }) => `- [${section.title}](#${anchorOf(section.title)})`),
  ];
  for (const { section, settings: list } of groups) {
    out.push('', `## ${section.title}`, '');
    const more = section.more ? `More in [${section.more.split('#')[0]}](${section.more}).` : '';
    if (section.intro || more) out.push([section.intro, more].filter(Boolean).join(' '), '');
    out.push('| variable | default | meaning |', '|---|---|---|');
    for (const s of list) out.push(`| \`${s.name}\` | ${cell(shownDefault(s))} | ${cell(s.description)} |`);
  }
  return `${out.join('\n')}\n`;
}

/** Wraps `text` into `# ` comment lines of at most `width` characters. */
function comment(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** .env.example */
export function renderEnvExample(): string {
  const out = [
    '# OSS Runner configuration, written by `npm run docs:config` from server/src/config.ts (docs/configuration.md',
    '# has the same as a table). Copy to .env (read from the directory the server starts in) and uncomment what',
    '# you change; variables set in the environment win over this file. Each line shows the default, or an',
    '# example where there is none. A bad value stops the server with a message naming the variable.',
  ];
  for (const { section, settings: list } of settings()) {
    out.push('', `# --- ${section.title} ${'-'.repeat(Math.max(3, 93 - section.title.length))}`);
    const more = section.more ? `See docs/${section.more.split('#')[0]}.` : '';
    if (section.intro || more) out.push(...comment([section.intro, more].filter(Boolean).join(' ')));
    for (const s of list) {
      const unset = s.value === undefined && s.unset ? ` Unset: ${s.unset}.` : '';
      out.push(...comment(`${s.description}${unset}`), `# ${s.name}=${s.value ?? s.example ?? ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(REFERENCE_FILE, renderReference());
  writeFileSync(ENV_EXAMPLE_FILE, renderEnvExample());
  console.log(`wrote ${path.relative(process.cwd(), REFERENCE_FILE)} and ${path.relative(process.cwd(), ENV_EXAMPLE_FILE)}`);
}
