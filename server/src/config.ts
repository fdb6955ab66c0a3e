/**
 * The server's configuration: the environment (and a `.env` file, if present) parsed once by a zod
 * schema and frozen. No other module reads process.env.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { byteSize } from './lib/byteSize';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const bool = z.stringbool().default(false);
const positiveInt = z.coerce.number().int().positive();

/** The server's own credentials: never handed to a tool, by RUN_ENV_ALLOWLIST or a catalog entry's `env`. */
export const SERVER_SECRETS: ReadonlySet<string> = new Set(['ADMIN_API_KEY', 'AUTH_JWT_SECRET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'DATABASE_URL', 'REDIS_URL']);

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_DIR: z.string().min(1).default('./logs'),
  CATALOG_FILE: z.string().min(1).default(path.join(PROJECT_ROOT, 'server/catalog/default.yaml')),
  /**
   * Where `npm run tools -- install` puts the scanners; its bin/ comes first on the tools' PATH. Outside
   * the checkout, beside the Node of .ci/node.sh: /var/cache/oss-runner/tools as root (readable by
   * RUN_AS_USER), ~/.cache/oss-runner/tools otherwise; OSS_RUNNER_CACHE moves both.
   */
  TOOLS_DIR: z.string().min(1).optional(),
  OSS_RUNNER_CACHE: z.string().min(1).optional(),
  /** With a PostgreSQL URL, runs, API keys, the audit log and settings live there instead of SQLite. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  /**
   * With a Redis URL (and DATABASE_URL) this process is a node of a fleet: `npm start` an API node,
   * `npm run worker` a worker. Runs are queued in Redis (BullMQ) and logs travel as Redis Streams.
   */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Prefix of every Redis key and channel: fleets sharing one Redis keep apart by it. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, ".", "_" or "-"').default('oss-runner'),
  /** Seconds a fleet node's lease lasts without a heartbeat; a worker silent for that long has its runs marked lost. */
  FLEET_LEASE_S: z.coerce.number().min(1).max(3600).default(30),
  /** The tags of the tools a worker runs (catalog `tag`; untagged tools are "default"), comma-separated. */
  WORKER_TAGS: z
    .string()
    .default('default')
    .transform((s) => [...new Set(s.split(',').map((t) => t.trim()).filter(Boolean))])
    .refine((tags) => tags.length > 0 && tags.every((t) => /^[a-z0-9][a-z0-9_-]{0,31}$/.test(t)), 'comma-separated tags of a-z, 0-9, "_" or "-"'),
  /** Seconds a run's log stays in Redis after the run ends (API nodes keep their own copies of what they served). */
  LOG_STREAM_TTL_S: positiveInt.default(3600),
  APP_NAME: z.string().min(1).default('OSS Runner'),
  ADMIN_API_KEY: z.string().min(16).optional(),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 bytes').optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
  /** Seconds of clock skew allowed on a JWT's exp, nbf and iat (at most 30). */
  AUTH_JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(30).default(5),
  /** Seconds before the JWKS may be fetched again when a token names an unknown `kid`. */
  AUTH_JWKS_COOLDOWN_S: z.coerce.number().min(0).default(30),
  AUTH_DISABLED: bool,
  /** Runs one credential may start per minute (429 with Retry-After past it). */
  START_RATE_PER_MINUTE: positiveInt.default(60),
  /** Failed authentications one address may make per minute before it is refused for a while. */
  AUTH_FAILURES_PER_MINUTE: positiveInt.default(20),
  /** The window AUTH_FAILURES_PER_MINUTE counts over: 60 s unless changed. */
  AUTH_FAILURES_WINDOW_S: positiveInt.max(3600).default(60),
  /**
   * Seconds within which a credential that stops verifying (an API key revoked, its role changed) loses
   * its power on connections already open: API key records are re-read at most this often.
   */
  AUTH_RECHECK_S: positiveInt.max(60).default(5),
  /** Lifetime of the run-bound tokens that let a browser's EventSource read a log. */
  LOG_TOKEN_TTL_S: positiveInt.max(3600).default(300),
  /** Addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated IPs). */
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((p) => p.trim()).filter(Boolean) : []))
    .refine((list) => list.every((ip) => isIP(ip) !== 0), 'must be comma-separated IP addresses (no names, no CIDR ranges)'),
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((o) => o.trim()).filter(Boolean) : [])),
  /** Seconds a run may take when its catalog entry sets no `timeout_s`. */
  RUN_TIMEOUT_S: positiveInt.default(3600),
  /** Seconds between SIGTERM and SIGKILL when a run is stopped or times out. */
  STOP_GRACE_S: z.coerce.number().min(0).default(10),
  /** Seconds running tools may go on finishing after SIGTERM before they are stopped (each then gets STOP_GRACE_S). */
  SHUTDOWN_GRACE_S: z.coerce.number().min(0).default(0),
  MAX_CONCURRENT_RUNS: positiveInt.default(8),
  MAX_LOG_BYTES: byteSize(1024).default(64 * 1024 * 1024),
  /** Defaults for tools whose catalog entry sets no limit of its own; 0 is no limit. Enforced where the machine can (GET /health). */
  RUN_MEMORY_BYTES: byteSize().default(2 * 1024 ** 3),
  RUN_PIDS: z.coerce.number().int().min(0).default(1024),
  RUN_CPU_S: z.coerce.number().int().min(0).default(0),
  RUN_FILE_BYTES: byteSize().default(1024 ** 3),
  /** Disk space a run's work and artifact directories may take together (measured every few seconds; over it the run is stopped). */
  RUN_DISK_BYTES: byteSize().default(10 * 1024 ** 3),
  /** Whether tools that do not say (`network:` in the catalog) may reach the network. */
  RUN_NETWORK: bool,
  /** Finished runs older than this many days are deleted with their logs and artifacts (0, the default: every run is kept). */
  RETENTION_DAYS: z.coerce.number().min(0).default(0),
  /** Only the newest this many finished runs of each tool are kept (0: no such limit). */
  RETENTION_KEEP_PER_TOOL: z.coerce.number().int().min(0).default(0),
  RETENTION_INTERVAL_S: z.coerce.number().positive().default(3600),
  /** Audit records older than this many days are deleted (0: kept forever). */
  AUDIT_RETENTION_DAYS: z.coerce.number().min(0).default(90),
  /** At most this many audit records are kept, the newest (0: no bound). */
  AUDIT_MAX_ROWS: z.coerce.number().int().min(0).default(1_000_000),
  /** The same refusal repeated by the same caller within this window is one audit record, with a count. */
  AUDIT_COALESCE_S: z.coerce.number().positive().max(3600).default(60),
  /** With a bucket, each finished run's log, artifacts and metadata are uploaded to S3. */
  S3_BUCKET: z.string().min(3).optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Path-style addressing (bucket in the path), which most S3-compatible servers need; default: on with S3_ENDPOINT. */
  S3_FORCE_PATH_STYLE: z.stringbool().optional(),
  S3_PREFIX: z.string().default('oss-runner/'),
  S3_PRESIGN_TTL_S: positiveInt.max(7 * 24 * 3600).default(3600),
  /** Largest JSON body accepted by the REST and tRPC APIs. */
  MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
  /** Most messages one WebSocket connection may send a minute; past it, it is closed (1008). */
  WS_MESSAGES_PER_MINUTE: positiveInt.default(1200),
  /** Most procedures one tRPC HTTP request may batch; 400 past it. */
  TRPC_MAX_BATCH: positiveInt.max(1000).default(50),
  /** A client has this long to send a request's headers; then 408 and the connection is closed (slowloris). */
  HTTP_HEADERS_TIMEOUT_S: positiveInt.max(600).default(20),
  /** Environment variables a tool inherits from the server; everything else is withheld. */
  RUN_ENV_ALLOWLIST: z
    .string()
    .default('PATH,HOME,LANG,LC_ALL,TZ,SSL_CERT_FILE,SSL_CERT_DIR,HTTP_PROXY,HTTPS_PROXY,NO_PROXY')
    .transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean))
    .superRefine((names, ctx) => {
      for (const name of names.filter((n) => SERVER_SECRETS.has(n))) ctx.addIssue({ code: 'custom', message: `${name} is the server's own secret and is never given to a tool` });
    }),
  /** `auto`: a PID namespace (bubblewrap) where it works, a process group otherwise. */
  PROCESS_ISOLATION: z.enum(['auto', 'pid-namespace', 'process-group']).default('auto'),
  /**
   * Who tools run as when the server runs as root: `uid` or `uid:gid`, numbers (no passwd entry needed).
   * The default is an id that neither adduser nor systemd allocates, so a tool shares it with no other
   * process or file on the machine (other services run as `nobody`). Never root: 0 is refused.
   */
  RUN_AS_USER: z
    .string()
    .regex(/^\d{1,10}(:\d{1,10})?$/, '`uid` or `uid:gid`, in numbers')
    .default('2147483646:2147483646')
    .transform((s) => {
      const [uid = 0, gid = uid] = s.split(':').map(Number);
      return { uid, gid };
    })
    .refine(({ uid, gid }) => [uid, gid].every((id) => id > 0 && id < 2 ** 32 - 1), 'neither may be 0 (root) nor 4294967295'),
  SSE_HEARTBEAT_S: z.coerce.number().positive().default(15),
  /** The role /metrics on the main port needs (Prometheus sends an API key as a bearer token). */
  METRICS_ROLE: z.enum(['viewer', 'operator', 'admin']).default('viewer'),
  /** With a port, /metrics is also served there without credentials, on METRICS_HOST. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** json: one JSON object per line; pretty: for people; auto: pretty on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** GET /ready fails when LOG_DIR's file system has less free space than this. */
  READY_MIN_FREE_BYTES: byteSize().default(512 * 1024 * 1024),
  NODE_ENV: z.string().default('development'),
}).refine((c) => !c.REDIS_URL || c.DATABASE_URL, { path: ['REDIS_URL'], message: 'a fleet (REDIS_URL) keeps its runs in PostgreSQL: set DATABASE_URL too' });

export type Config = Readonly<
  Omit<z.infer<typeof Env>, 'LOG_DIR' | 'CATALOG_FILE' | 'TOOLS_DIR' | 'OSS_RUNNER_CACHE'> & {
    LOG_DIR: string;
    CATALOG_FILE: string;
    TOOLS_DIR: string;
    /** Where the built web app lives. */
    WEB_DIST: string;
    PROJECT_ROOT: string;
    /** The environment every tool gets: RUN_ENV_ALLOWLIST's variables, nothing else. */
    TOOL_ENV: Readonly<Record<string, string>>;
    /** The server's variables of these names that are set (for a catalog entry's own `env`). */
    envOf: (names: readonly string[]) => Record<string, string>;
  }
>;

export class ConfigError extends Error {}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const dotenv = path.join(cwd, '.env');
  if (env === process.env && existsSync(dotenv)) process.loadEnvFile(dotenv);
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const { OSS_RUNNER_CACHE, ...c } = parsed.data;
  const cache = OSS_RUNNER_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/oss-runner' : path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'oss-runner'));
  const toolsDir = path.resolve(cwd, c.TOOLS_DIR ?? path.join(cache, 'tools'));
  const toolEnv: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const name of c.RUN_ENV_ALLOWLIST) {
    const value = env[name];
    if (value !== undefined) toolEnv[name] = value;
  }
  toolEnv.PATH = `${path.join(toolsDir, 'bin')}:${toolEnv.PATH}`;
  return Object.freeze({
    ...c,
    LOG_DIR: path.resolve(cwd, c.LOG_DIR),
    CATALOG_FILE: path.resolve(cwd, c.CATALOG_FILE),
    TOOLS_DIR: toolsDir,
    WEB_DIST: path.join(PROJECT_ROOT, 'dist/web'),
    PROJECT_ROOT,
    TOOL_ENV: Object.freeze(toolEnv),
    envOf: (names: readonly string[]) => Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]]))),
  });
}
