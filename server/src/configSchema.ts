/**
 * Every variable the server reads, as one zod schema with what each means: parsed once by config.ts,
 * and the source of the configuration reference (docs/configuration.md) and .env.example.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { byteSize } from './lib/byteSize';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const bool = z.stringbool().default(false);
/** The tools' PATH when RUN_ENV_ALLOWLIST passes none on (TOOLS_DIR/bin is put before it either way). */
export const DEFAULT_TOOL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const positiveInt = z.coerce.number().int().positive();

/** The server's own credentials: never handed to a tool, by RUN_ENV_ALLOWLIST or a catalog entry's `env`. */
export const SERVER_SECRETS: ReadonlySet<string> = new Set(['ADMIN_API_KEY', 'AUTH_JWT_SECRET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'DATABASE_URL', 'REDIS_URL']);

/**
 * Every variable the server reads, with what it means: the `.describe()` texts are the configuration
 * reference (docs/configuration.md) and .env.example, which `npm run docs:config` writes from them.
 */
export const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8000).describe('Listen port (`0`: any free port; the server prints the URL it listens on).'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Listen address (the Docker image sets `0.0.0.0`).'),
  LOG_DIR: z
    .string()
    .min(1)
    .default('./logs')
    .describe("Everything persistent: the SQLite database, one log file per run, each run's working and artifact directories, the tools' caches (a relative path is taken from the current directory)."),
  CATALOG_FILE: z.string().min(1).default(path.join(PROJECT_ROOT, 'server/catalog/default.yaml')).describe('The YAML catalog of the tools that may run.'),
  TOOLS_DIR: z
    .string()
    .min(1)
    .optional()
    .describe("Where `npm run tools -- install` puts the scanners; its `bin/` comes first on the tools' `PATH`."),
  OSS_RUNNER_CACHE: z
    .string()
    .min(1)
    .optional()
    .describe('The cache outside the checkout that holds `TOOLS_DIR` (and the Node and Schemathesis of `.ci/`); as root it is one `RUN_AS_USER` can reach.'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional()
    .describe('A `postgres://` URL: runs, API keys, the audit log and settings live in PostgreSQL instead (migrated at start); logs and run files stay in `LOG_DIR`.'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional()
    .describe('`redis://` or `rediss://`: this process is a node of a fleet (it needs `DATABASE_URL` too): `npm start` an API node, `npm run worker` a worker. Runs are queued in Redis (BullMQ) and logs travel as Redis Streams.'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, ".", "_" or "-"')
    .default('oss-runner')
    .describe('Prefix of every Redis key and channel: fleets sharing one Redis keep apart by it.'),
  FLEET_LEASE_S: z.coerce
    .number()
    .min(1)
    .max(3600)
    .default(30)
    .describe("Seconds a fleet node's lease lasts without a heartbeat: a node silent for this long is dead, and the runs it held end as `lost`."),
  FLEET_HEARTBEAT_S: z.coerce
    .number()
    .min(0.1)
    .max(1800)
    .optional()
    .describe("Seconds between a fleet node's heartbeats, at most half of `FLEET_LEASE_S`. At each one a worker also reads the stops asked for its runs (should it have missed their message) and sends again the end of runs it has not recorded yet."),
  FLEET_WAIT_RETRY_S: z.coerce
    .number()
    .min(0.05)
    .max(60)
    .default(1)
    .describe("Seconds after which a run that waits for its tool's `concurrency` or its `cache` (both held across the fleet) is tried again; it keeps its place in its tool's line meanwhile."),
  WORKER_TAGS: z
    .string()
    .default('default')
    .transform((s) => [...new Set(s.split(',').map((t) => t.trim()).filter(Boolean))])
    .refine((tags) => tags.length > 0 && tags.every((t) => /^[a-z0-9][a-z0-9_-]{0,31}$/.test(t)), 'comma-separated tags of a-z, 0-9, "_" or "-"')
    .describe('The tags of the tools a worker runs (catalog `tag`; untagged tools are `default`), comma-separated.'),
  WORKER_TOOLS_CHECK_S: z.coerce
    .number()
    .min(0.1)
    .max(3600)
    .default(10)
    .describe(
      "Seconds between a fleet worker's checks of which tools of its tags it can run (program found on its tools' `PATH`, limits enforceable, version), which it tells the API nodes (at once when something changed, and when it starts or stops); API nodes read every live worker's word again as often. A program installed on a worker shows as runnable within this time.",
    ),
  LOG_STREAM_TTL_S: positiveInt
    .default(3600)
    .describe("Seconds a run's log stays in Redis after the run ends (API nodes keep the copies they made). Redis then holds every log of that period: size its `maxmemory` for it, with `noeviction`."),
  APP_NAME: z.string().min(1).default('OSS Runner').describe('Shown in `/health`, in the web app and as the title of the OpenAPI document.'),
  ADMIN_API_KEY: z.string().min(16).optional().describe('A key of your choice (16 characters or more) accepted with the admin role, for bootstrapping and automation.'),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 bytes').optional().describe('HS256 secret for JWTs (at least 32 bytes).'),
  AUTH_JWKS_URL: z.url().optional().describe('JWKS URL for RS256/ES256/EdDSA JWTs from an identity provider.'),
  AUTH_JWT_ISSUER: z.string().optional().describe('The `iss` a JWT must carry, when set.'),
  AUTH_JWT_AUDIENCE: z.string().optional().describe('The `aud` a JWT must carry, when set.'),
  AUTH_JWT_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(30).default(5).describe("Seconds of clock skew allowed on a JWT's `exp`, `nbf` and `iat` (0 to 30)."),
  AUTH_JWKS_COOLDOWN_S: z.coerce.number().min(0).default(30).describe('Seconds before the JWKS may be fetched again when a token names an unknown `kid`.'),
  AUTH_DISABLED: bool.describe('`true` opens everything to anyone who can reach the server: local experiments only (the server warns loudly).'),
  START_RATE_PER_MINUTE: positiveInt.default(60).describe('Runs one credential may start per minute (429 with `Retry-After` past it).'),
  AUTH_FAILURES_PER_MINUTE: positiveInt.default(20).describe('Failed authentications one address may make per minute before it is refused for a while (429 with `Retry-After`).'),
  AUTH_FAILURES_WINDOW_S: positiveInt
    .max(3600)
    .default(60)
    .describe('The window `AUTH_FAILURES_PER_MINUTE` counts over (the "minute"); an address over the limit is refused for the rest of it.'),
  AUTH_RECHECK_S: positiveInt
    .max(60)
    .default(5)
    .describe('Seconds (1 to 60) within which a credential that stops verifying (an API key revoked, its role changed) loses its power on connections already open: its next operation is refused, its streams end, its log tokens stop working. API key records are cached for half that.'),
  LOG_TOKEN_TTL_S: positiveInt.max(3600).default(300).describe("Lifetime in seconds (at most 3600) of the run-bound tokens that let a browser's `EventSource` read one run's log and artifacts."),
  TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((p) => p.trim()).filter(Boolean) : []))
    .refine((list) => list.every((ip) => isIP(ip) !== 0), 'must be comma-separated IP addresses (no names, no CIDR ranges)')
    .describe("Comma-separated IP addresses (no names, no CIDR ranges) of reverse proxies whose `X-Forwarded-For` is believed: the caller's address for the failed-authentication limit, the audit log and the request log."),
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((o) => o.trim()).filter(Boolean) : []))
    .describe(
      "Comma-separated browser origins (`https://app.example.com`) allowed to open the tRPC WebSocket, besides the server's own, and to call REST, tRPC over HTTP and the SSE log stream from a page (CORS, with the `Authorization`, `X-API-Key`, `Idempotency-Key` and `Last-Event-ID` headers; no cookies); other origins' preflights get a 403. Clients that send no `Origin` (curl, Node) are not refused for it.",
    ),
  RUN_TIMEOUT_S: positiveInt.default(3600).describe('Seconds a run may take when its catalog entry sets no `timeout_s`.'),
  STOP_GRACE_S: z.coerce.number().min(0).default(10).describe('Seconds between SIGTERM and SIGKILL when a run is stopped, times out or the server shuts down.'),
  SHUTDOWN_GRACE_S: z.coerce
    .number()
    .min(0)
    .default(0)
    .describe("Seconds running tools may go on finishing after the server gets SIGTERM, before they are stopped (each then gets `STOP_GRACE_S`). Keep `SHUTDOWN_GRACE_S + STOP_GRACE_S` under your orchestrator's kill timeout (`docker stop -t`, Kubernetes' `terminationGracePeriodSeconds`)."),
  MAX_CONCURRENT_RUNS: positiveInt.default(8).describe('Runs going at once (on a worker: of all its tags); more are `queued`, first in first out.'),
  STARTS_PER_TURN: positiveInt
    .default(4)
    .describe("Starts that go on in one turn of the server's event loop once checked ready: more that arrive together go on in the turns after, so that a burst of starts never holds every stream and request for all of them at once."),
  MAX_LOG_BYTES: byteSize(1024)
    .default(64 * 1024 * 1024)
    .describe("A run's log cap (a tool may set its own, `limits: {log_bytes: N}`): past it the log keeps its first three quarters as written and the last quarter of the output after a marker line; the tool keeps running and the run says `log_truncated: true`."),
  LOG_TIMES_RESOLUTION_MS: positiveInt
    .default(100)
    .describe("Arrival times of a run's output (`GET /runs/{run_id}/log-times`, the web app's Times) are recorded at most once per this many milliseconds: a burst of output shares one entry."),
  LOG_TIMES_MAX_ENTRIES: positiveInt
    .default(100_000)
    .describe("A run's arrival-time index stops at this many entries (16 bytes or so each on disk, and in memory while the run goes); output past it has no time of its own, and the index says `complete: false`."),
  RUN_MEMORY_BYTES: byteSize()
    .default(2 * 1024 ** 3)
    .describe("Memory of all a run's processes together (cgroup), for tools whose entry sets no `limits.memory_bytes`; `0`: none."),
  RUN_PIDS: z.coerce.number().int().min(0).default(1024).describe('Processes and threads a run may have at once (cgroup), for tools whose entry sets no `limits.pids`; `0`: none.'),
  RUN_CPU_S: z.coerce.number().int().min(0).default(0).describe('CPU seconds per process (RLIMIT_CPU), for tools whose entry sets no `limits.cpu_s`; `0`: none (`RUN_TIMEOUT_S` bounds the wall clock anyway).'),
  RUN_FILE_BYTES: byteSize()
    .default(1024 ** 3)
    .describe('Largest file a run may write (RLIMIT_FSIZE), which bounds each artifact too, for tools whose entry sets no `limits.file_bytes`; `0`: none.'),
  RUN_DISK_BYTES: byteSize()
    .default(10 * 1024 ** 3)
    .describe("Disk space a run's work and artifact directories may take together (a tool may set its own, `limits: {disk_bytes: N}`), measured every 2 s; over it the run is stopped, `end_reason: \"disk_limit\"`; `0`: none."),
  RUN_NETWORK: bool.describe('Whether tools whose catalog entry does not say (`network:`) may reach the network.'),
  RETENTION_DAYS: z.coerce
    .number()
    .min(0)
    .default(0)
    .describe('Finished runs older than this many days (by their end; fractions allowed) are deleted with their logs, directories, artifacts and S3 copies; `0`: every run is kept.'),
  RETENTION_KEEP_PER_TOOL: z.coerce.number().int().min(0).default(0).describe('Only the newest this many finished runs of each tool are kept (`0`: no such limit).'),
  RETENTION_INTERVAL_S: z.coerce.number().positive().default(3600).describe("Seconds between retention sweeps (one also runs at start-up), for runs and the audit log; on a fleet's workers, of the files they keep of runs whose records retention deleted."),
  AUDIT_RETENTION_DAYS: z.coerce.number().min(0).default(90).describe('Audit records older than this many days are deleted (`0`: kept forever).'),
  AUDIT_MAX_ROWS: z.coerce.number().int().min(0).default(1_000_000).describe('At most this many audit records are kept, the newest (`0`: no bound).'),
  AUDIT_COALESCE_S: z.coerce
    .number()
    .positive()
    .max(3600)
    .default(60)
    .describe('The same refusal repeated by the same caller within this many seconds is written once more, as one record with a `count`.'),
  S3_BUCKET: z.string().min(3).optional().describe("With a bucket, each finished run's log, artifacts and `run.json` are uploaded to S3, under `<S3_PREFIX>runs/<run_id>/`."),
  S3_ENDPOINT: z.url().optional().describe("An S3-compatible server's URL (MinIO, Ceph, s3rver...)."),
  S3_REGION: z.string().min(1).default('us-east-1').describe("The bucket's region."),
  S3_ACCESS_KEY_ID: z.string().min(1).optional().describe('Access key id, with `S3_SECRET_ACCESS_KEY`.'),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional().describe('Secret access key, with `S3_ACCESS_KEY_ID`.'),
  S3_FORCE_PATH_STYLE: z.stringbool().optional().describe('Path-style addressing (the bucket in the path rather than the host name), which most S3-compatible servers need.'),
  S3_PREFIX: z.string().default('oss-runner/').describe('Key prefix: objects are `<prefix>runs/<run_id>/{log,run.json,artifacts/<name>}`.'),
  S3_PRESIGN_TTL_S: positiveInt
    .max(7 * 24 * 3600)
    .default(3600)
    .describe('Lifetime in seconds of the presigned links a run lists (at most 7 days).'),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('The address people reach this server at (`https://runner.example.com`, a path allowed): the links to a run\'s page and log in notifications.'),
  WEBHOOK_ALLOWED_NETWORKS: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((n) => n.trim()).filter(Boolean) : []))
    .refine((list) => list.every((cidr) => /^[^/]+\/\d{1,3}$/.test(cidr) && isIP(cidr.split('/')[0] ?? '') !== 0 && Number(cidr.split('/')[1]) <= (isIP(cidr.split('/')[0] ?? '') === 6 ? 128 : 32)), 'must be comma-separated CIDR ranges, such as 10.1.0.0/16 or fd00::/8')
    .describe('Comma-separated CIDR ranges (`10.1.0.0/16`, `127.0.0.0/8`) a webhook may reach although they are loopback, private or link-local addresses, which are refused otherwise (checked on the address connected to).'),
  WEBHOOK_TIMEOUT_S: positiveInt.max(300).default(10).describe('Seconds (at most 300) a webhook receiver has to answer a delivery; past it the attempt has failed.'),
  WEBHOOK_RETRY_BASE_S: z.coerce.number().positive().default(30).describe('Seconds before a failed delivery is tried again; the gap doubles after each failure (fractions allowed).'),
  WEBHOOK_RETRY_MAX_INTERVAL_S: z.coerce.number().positive().default(3600).describe('The longest gap between two attempts of a delivery, in seconds.'),
  WEBHOOK_RETRY_FOR_S: z.coerce
    .number()
    .positive()
    .default(24 * 3600)
    .describe('Seconds a delivery is tried for, from when it was made (the run\'s end); then it is `failed` (an admin may redeliver it). A run that ended while no server heard it is caught up at the next start within this time too.'),
  WEBHOOK_POLL_S: z.coerce.number().positive().default(5).describe('Seconds between looks for deliveries due that another API node or a restart left (a run ending here is sent at once).'),
  WEBHOOK_CONCURRENCY: positiveInt.max(100).default(8).describe('Deliveries one server (each API node of a fleet) attempts at once (at most 100).'),
  WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce.number().positive().default(30).describe('Delivered and failed deliveries are deleted this many days after they were made.'),
  MAX_BODY_BYTES: positiveInt.default(1024 * 1024).describe('Largest request body in bytes (REST, tRPC, a WebSocket message); 413 past it.'),
  WS_MESSAGES_PER_MINUTE: positiveInt.default(1200).describe('Most messages one WebSocket connection may send a minute; past it the connection is closed (1008).'),
  TRPC_MAX_BATCH: positiveInt.max(1000).default(50).describe('Most procedures one tRPC HTTP request may batch (at most 1000); 400 past it.'),
  HTTP_HEADERS_TIMEOUT_S: positiveInt
    .max(600)
    .default(20)
    .describe("Seconds (at most 600) a client has to send a request's headers; past it the answer is 408 and the connection is closed (slowloris)."),
  RUN_ENV_ALLOWLIST: z
    .string()
    .default('PATH,HOME,LANG,LC_ALL,TZ,SSL_CERT_FILE,SSL_CERT_DIR,HTTP_PROXY,HTTPS_PROXY,NO_PROXY')
    .transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean))
    .superRefine((names, ctx) => {
      for (const name of names.filter((n) => SERVER_SECRETS.has(n))) ctx.addIssue({ code: 'custom', message: `${name} is the server's own secret and is never given to a tool` });
    })
    .describe(
      `The only environment variables a tool inherits from the server, comma-separated (without a \`PATH\`, tools get \`${DEFAULT_TOOL_PATH}\`; \`TOOLS_DIR/bin\` always comes first). The server's own secrets (${[...SERVER_SECRETS].map((s) => `\`${s}\``).join(', ')}) are refused at start-up.`,
    ),
  PROCESS_ISOLATION: z
    .enum(['auto', 'pid-namespace', 'process-group'])
    .default('auto')
    .describe('`pid-namespace`: bubblewrap, and refuse to start without it; `process-group`: never bubblewrap; `auto`: a PID namespace where bubblewrap works, process groups otherwise.'),
  RUN_AS_USER: z
    .string()
    .regex(/^\d{1,10}(:\d{1,10})?$/, '`uid` or `uid:gid`, in numbers')
    .default('2147483646:2147483646')
    .transform((s) => {
      const [uid = 0, gid = uid] = s.split(':').map(Number);
      return { uid, gid };
    })
    .refine(({ uid, gid }) => [uid, gid].every((id) => id > 0 && id < 2 ** 32 - 1), 'neither may be 0 (root) nor 4294967295')
    .describe(
      'Who tools run as when the server runs as root: `uid` or `uid:gid`, in numbers (no passwd entry needed; never 0). The default is an id that neither adduser nor systemd allocates, so a tool shares it with no other process or file on the machine (other services run as `nobody`). Catalog entries marked `run_as_root: true` keep root; a server that is not root runs tools as its own user.',
    ),
  SSE_HEARTBEAT_S: z.coerce.number().positive().default(15).describe("Seconds between `: keep-alive` comments on idle SSE streams (keep it under your proxy's read timeout)."),
  METRICS_ROLE: z.enum(['viewer', 'operator', 'admin']).default('viewer').describe('The role `GET /metrics` on the main port needs (Prometheus sends an API key as a bearer token).'),
  METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('Also serve `/metrics` on this port, with no credential, on `METRICS_HOST` (`0`: any free port, printed at start); a fleet worker serves it there too.'),
  METRICS_HOST: z.string().min(1).default('127.0.0.1').describe('The address of `METRICS_PORT`: keep it private.'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('`fatal`, `error`, `warn`, `info` (a line per request), `debug`, `trace` or `silent`.'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto').describe('`json`: one JSON object per line; `pretty`: for people; `auto`: pretty on a terminal, JSON otherwise.'),
  LOG_BUFFER_BYTES: byteSize()
    .default(4 * 1024 * 1024)
    .describe("The server's own JSON log lines are written to stdout off the event loop: at most this many bytes of them wait for stdout (past it, lines are dropped, and a warning then says how many). `0`: each line is written at once, the server waiting for stdout."),
  SCHEDULE_GRACE_S: z.coerce
    .number()
    .min(0)
    .default(300)
    .describe("Seconds after a schedule's occurrence within which it still starts when no server was running at its time (the server comes back, a fleet's last API node restarts); an older one is recorded as `missed`. Only the latest occurrence missed ever runs, once: never a burst."),
  SCHEDULE_TICK_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(1000)
    .describe('How often, in milliseconds, each server (each API node of a fleet) looks for schedules that are due: a scheduled run starts at most this long after its time.'),
  SCHEDULES_ROLE: z.enum(['operator', 'admin']).default('admin').describe('The role that may create, change, pause, resume and delete schedules (`operator` lets operators too); viewers may list them.'),
  SCHEDULES_MAX: positiveInt.default(1000).describe('Schedules kept at most (409 past it).'),
  READY_MIN_FREE_BYTES: byteSize()
    .default(512 * 1024 * 1024)
    .describe("`GET /ready` answers 503 when `LOG_DIR`'s file system has less free space than this."),
  NODE_ENV: z
    .string()
    .default('development')
    .describe('Not read by the server: error answers never carry stack traces, whatever it says. The Docker image sets `production` for the libraries that look at it.'),
})
  .refine((c) => !c.REDIS_URL || c.DATABASE_URL, { path: ['REDIS_URL'], error: 'a fleet (REDIS_URL) keeps its runs in PostgreSQL: set DATABASE_URL too' })
  .refine((c) => c.FLEET_HEARTBEAT_S === undefined || c.FLEET_HEARTBEAT_S * 2 <= c.FLEET_LEASE_S, { path: ['FLEET_HEARTBEAT_S'], error: 'at most half of FLEET_LEASE_S (a lease must outlive a missed heartbeat)' });
