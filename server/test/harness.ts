/**
 * Starts the real server as a child process on a free port, with its own LOG_DIR and catalog, from
 * its TypeScript through tsx (`npm run dev:server`) or, with `built: true`, as production runs it (the
 * JavaScript of `npm run build:server`, built afresh once per test file), and talks to it over real HTTP.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTRPCClient, createWSClient, httpBatchLink, httpSubscriptionLink, splitLink, wsLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { Run } from '../../shared/src/schemas/run';
import type { AppRouter } from '../src/routers';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface TestServer {
  url: string;
  /** The ADMIN_API_KEY the server was started with; helpers send it unless told otherwise. */
  adminKey: string;
  proc: ChildProcess;
  logDir: string;
  /** Everything the server printed so far. */
  output(): string;
  /** Resident memory of the server process, in bytes. */
  rss(): number;
  /** CPU time the server process has used so far (user and system), in milliseconds. */
  cpuMs(): number;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  crash(): Promise<void>;
  exited: Promise<number | null>;
}

/** The credential helpers send to each test server by default (its ADMIN_API_KEY). */
const defaultKeys = new Map<string, string>();

/** Headers with the server's admin key added, unless a credential is given; `authorization: ''` sends none. */
export function withAuth(base: string, headers: Record<string, string> = {}): Record<string, string> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  if (lower.authorization === '') {
    const { authorization: _none, ...rest } = lower;
    return rest;
  }
  const key = [...defaultKeys].find(([url]) => base.startsWith(url))?.[1];
  if (lower.authorization || lower['x-api-key'] || !key) return lower;
  return { ...lower, authorization: `Bearer ${key}` };
}

/** A TCP port free on 127.0.0.1 now (for servers a test starts itself). */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export function tempDir(prefix = 'oss-runner-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/**
 * A server whose LOG_DIR is on a file system of `mib` MiB of its own (a tmpfs at `mount`: this needs
 * root, as CI has), for a full or nearly full disk; `stop` stops it and unmounts the file system.
 */
export async function startServerOnSmallDisk(mib: number, catalog: string, env: Record<string, string>, { built = false }: { built?: boolean } = {}): Promise<{ server: TestServer; mount: string; stop: () => Promise<void> }> {
  const mount = mkdtempSync(path.join('/tmp', 'oss-runner-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', mount]);
  const unmount = () => void execFileSync('umount', ['-l', mount]);
  try {
    const server = await startServer({ catalogFile: writeCatalog(tempDir(), catalog), logDir: path.join(mount, 'data'), env, built });
    return { server, mount, stop: async () => (await server.stop(), unmount()) };
  } catch (e) {
    unmount();
    throw e;
  }
}

export function writeCatalog(dir: string, yaml: string): string {
  const file = path.join(dir, 'catalog.yaml');
  writeFileSync(file, yaml);
  return file;
}

let built = false;

/** The server's entry point `name` in dist/server, built from the current sources the first time it is asked for. */
export function builtEntry(name: 'main' | 'worker' | 'apikey' | 'tools' | 'oss-runner'): string {
  if (!built) execFileSync(process.execPath, ['server/build.ts'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
  return path.join(ROOT, 'dist/server', `${name}.js`);
}

/**
 * Spawns the server (or, with `worker: true`, a fleet worker: `npm run worker`); resolves once it
 * prints its URL (a worker: its node id, as `url`), and rejects with its output if it exits first.
 */
export async function startServer(opts: { catalog?: string; catalogFile?: string; logDir?: string; env?: Record<string, string>; worker?: boolean; built?: boolean } = {}): Promise<TestServer> {
  const logDir = opts.logDir ?? tempDir();
  const catalogFile = opts.catalogFile ?? (opts.catalog !== undefined ? writeCatalog(logDir, opts.catalog) : undefined);
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: '0',
    LOG_DIR: logDir,
    STOP_GRACE_S: '1',
    ADMIN_API_KEY: `test-admin-${randomBytes(12).toString('hex')}`,
    ...(catalogFile ? { CATALOG_FILE: catalogFile } : {}),
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
  const entry = opts.built ? [builtEntry(opts.worker ? 'worker' : 'main')] : ['--import', 'tsx', opts.worker ? 'server/src/worker.ts' : 'server/src/main.ts'];
  const proc = spawn(process.execPath, entry, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = (opts.worker ? /worker (\S+) taking runs/ : /listening on (http:\/\/\S+)/).exec(out);
      if (m?.[1]) {
        clearInterval(timer);
        resolve(m[1]);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
  const adminKey = env.ADMIN_API_KEY ?? '';
  if (adminKey) defaultKeys.set(url, adminKey);
  return {
    url,
    adminKey,
    proc,
    logDir,
    output: () => out,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    cpuMs: () => cpuMsOf(proc.pid ?? 0),
    exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async crash() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** CPU time (user and system) process `pid` has used, in milliseconds, from /proc (clock ticks of 10 ms). */
/** A process's (or a thread's) `stat` file (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`): its name, parent and CPU time. */
export function procStat(file: string): { comm: string; ppid: number; cpuMs: number } {
  const stat = readFileSync(file, 'utf8');
  // The fields after the command name (which may hold spaces), from the 3rd: ppid is the 4th field, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
}

const cpuMsOf = (pid: number): number => procStat(`/proc/${pid}/stat`).cpuMs;

/** A run's raw log (`GET /runs/{id}/log`) as bytes. */
export async function rawLog(base: string, runId: string): Promise<Buffer> {
  return Buffer.from(await (await fetchAuthed(`${base}/runs/${runId}/log`)).arrayBuffer());
}

/** Runs a whole server's worth of REST calls with JSON answers. */
export async function api<T = unknown>(base: string, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(base + route, {
    method,
    headers: withAuth(base, body === undefined ? headers : { 'content-type': 'application/json', ...headers }),
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** The typed tRPC client a Node program would use: subscriptions over WebSocket, the rest over HTTP. */
export function trpcClient(base: string, token: string | null = withAuth(base).authorization?.replace('Bearer ', '') ?? null) {
  const wsClient = createWSClient({
    url: base.replace(/^http/, 'ws') + '/trpc',
    ...(token ? { connectionParams: { token } } : {}),
  });
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const client = createTRPCClient<AppRouter>({
    links: [splitLink({ condition: (op) => op.type === 'subscription', true: wsLink({ client: wsClient }), false: httpBatchLink({ url: `${base}/trpc`, headers }) })],
  });
  /** Resolves once the WebSocket is open (the client connects at once, in the background). */
  const connected = async () => {
    let watching: { unsubscribe(): void } | undefined;
    await new Promise<void>((resolve) => {
      watching = wsClient.connectionState.subscribe({ next: (state) => state.state === 'pending' && resolve() });
    });
    watching?.unsubscribe();
  };
  return { client, connected, close: () => wsClient.close() };
}

/** The typed tRPC client on tRPC's own SSE transport for subscriptions. */
export function trpcSseClient(base: string) {
  const headers = withAuth(base);
  // The eventsource package (unlike a browser's) can send headers, through its fetch.
  const authedFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url: `${base}/trpc`, EventSource, eventSourceOptions: { fetch: authedFetch } }),
        false: httpBatchLink({ url: `${base}/trpc`, headers }),
      }),
    ],
  });
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string[];
}

/**
 * Reads an SSE response the way a client library would, straight off the socket, so tests see
 * exactly what `curl -N` sees. Stops at `event: end` or when the server closes the stream.
 */
export async function readSse(url: string, headers: Record<string, string> = {}, onEvent?: (e: SseEvent) => boolean | void): Promise<{ status: number; events: SseEvent[]; raw?: string }> {
  const res = await fetch(url, { headers: withAuth(url, headers) });
  if (!res.ok || !res.body) return { status: res.status, events: [], raw: await res.text() };
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  let current: SseEvent = { data: [] };
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (current.data.length || current.event || current.id) {
          events.push(current);
          if (onEvent?.(current) === false) {
            await reader.cancel();
            return { status: res.status, events };
          }
        }
        current = { data: [] };
      } else if (line.startsWith(':')) continue;
      else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') current.data.push(value);
        else if (field === 'id') current.id = value;
        else if (field === 'event') current.event = value;
      }
    }
  }
  return { status: res.status, events };
}

export const linesOf = (events: SseEvent[]) => events.filter((e) => !e.event).flatMap((e) => e.data);

/** PIDs of live processes whose command line contains `marker` (and, with `under`, whose working directory lies under it). */
export function processesWith(marker: string, under?: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = /State:\s+(\w)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      // Other test files run beside this one: `under` keeps only a server's own runs (their working directory).
      if (under !== undefined && !readlinkSync(`/proc/${entry}/cwd`).startsWith(`${under}/`)) continue;
      if (cmdline.includes(marker) && state !== 'Z') found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The server's spawn helper (server/src/process/SpawnHelper.ts): the child of the server that forks its runs; undefined while there is none. */
export function spawnHelperOf(server: TestServer): number | undefined {
  const pid = server.proc.pid ?? 0;
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  return children.find((child) => {
    try {
      return /spawnHelperProcess\.ts|spawn-helper\.js/.test(readFileSync(`/proc/${child}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** fetch, with the server's admin key unless the headers carry a credential (or `authorization: ''`). */
export function fetchAuthed(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: withAuth(url, (init.headers ?? {}) as Record<string, string>) });
}

/**
 * Starts a tool (with `params` when given), reads its log to the end over SSE and answers the final run
 * and its lines. A start that is not a 200 throws, with the answer.
 */
export async function runToEnd(base: string, name: string, params?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ run: Run; lines: string[] }> {
  const started = await api<{ run: Run }>(base, 'POST', `/set/${name}`, params ? { params } : undefined, headers);
  if (started.status !== 200) throw new Error(`POST /set/${name} answered ${started.status}: ${JSON.stringify(started.body)}`);
  const { events } = await readSse(`${base}/runs/${started.body.run.run_id}/logs`);
  return { run: endRun(events), lines: linesOf(events) };
}

/** The final run carried by a stream's last event, which must be `event: end`. */
export function endRun(events: SseEvent[]): Run {
  const end = events.at(-1);
  if (end?.event !== 'end') throw new Error(`the stream did not end with an end event (last: ${JSON.stringify(end)})`);
  return JSON.parse(end.data.join('\n')) as Run;
}
