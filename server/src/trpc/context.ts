/**
 * One createContext for every way in: tRPC over HTTP (a node request), over WebSocket (the socket as
 * `res`, the token in connectionParams) and the REST handler (a Fetch Request). It verifies the
 * credential once (procedures check it again: see init.ts), and hands procedures the services, the caller, and a way to wait while the
 * client's connection is backed up.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { asDomainError, HTTP_STATUS, toTRPCError, type DomainError } from '../errors';
import type { Services } from '../services';
import type { Principal } from '../services/auth/principal';

export interface Context {
  services: Services;
  /** The verified caller, or null when no credential was sent (or it failed: see authError). */
  principal: Principal | null;
  /** Why the credential that was sent was refused; protected procedures throw it. */
  authError: DomainError | null;
  ip: string | null;
  /** The Idempotency-Key header of the request, when it had one (HTTP only). */
  idempotencyKey: string | null;
  /** Resolves once the connection has room for more: tRPC's WebSocket adapter has no backpressure of its own. */
  waitForDrain: (signal?: AbortSignal) => Promise<void>;
  /**
   * Called when the credential stops verifying after the connection was opened (a revoked API key):
   * a WebSocket is closed with 4401, as when its credential fails at once.
   */
  credentialLost: (error: DomainError) => void;
  /** How subscriptions reach the client: tRPC over WebSocket, or tRPC's own SSE over HTTP. */
  transport: 'websocket' | 'trpc-sse';
}

interface Drainable {
  writableNeedDrain?: boolean;
  destroyed?: boolean;
  once?: (event: 'drain' | 'close', listener: () => void) => unknown;
  off?: (event: 'drain' | 'close', listener: () => void) => unknown;
}

/** Resolves when `stream` has flushed what it holds (or closed, or the signal aborted). */
function drained(stream: Drainable, signal?: AbortSignal): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off?.('drain', done);
      stream.off?.('close', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    stream.once?.('drain', done);
    stream.once?.('close', done);
    signal?.addEventListener('abort', done);
  });
}

function drainWaiter(res: unknown): Context['waitForDrain'] {
  // A WebSocket (from ws) writes to its TCP socket: wait on that socket's own 'drain', so a
  // subscription sends its next event only once the previous one has left for the client.
  const socket = (res as { _socket?: Drainable } | undefined)?._socket;
  const stream = socket ?? ((res ?? {}));
  return (signal) => drained(stream, signal);
}

interface HeaderSource {
  get(name: string): string | null | undefined;
}

function headersOf(req: IncomingMessage | Request): HeaderSource {
  if (req.headers instanceof Headers) return req.headers;
  const { headers } = req as IncomingMessage;
  return { get: (name) => [headers[name]].flat()[0] };
}

/** The credential a request carries: `Authorization: Bearer <x>`, else `X-API-Key: <x>`. */
export function credentialOf(headers: HeaderSource): string | null {
  const authorization = headers.get('authorization');
  if (authorization) return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? authorization;
  return headers.get('x-api-key')?.trim() || null;
}

export interface ContextOptions {
  req: IncomingMessage | Request;
  res?: unknown;
  info?: { connectionParams?: Record<string, string | undefined> | null };
  /** The caller's address, when `req` cannot tell it (a Fetch Request). */
  ip?: string | null | undefined;
}

/** The longest delay a Node timer takes (2^31 - 1 ms). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

const isWebSocket = (res: unknown): res is WebSocket => typeof (res as { bufferedAmount?: unknown } | undefined)?.bufferedAmount === 'number';

/**
 * Closes `ws` with a code that says why (4401, 4429), once tRPC has sent the error that goes with it;
 * the reason carries the wait of a 429 as HTTP's Retry-After would ("too_many; retry after 12 s").
 */
const closeFor = (ws: WebSocket, error: DomainError) =>
  setImmediate(() => ws.close(4000 + HTTP_STATUS[error.kind], error.retryAfterS ? `${error.kind}; retry after ${error.retryAfterS} s` : error.kind));

export function contextFactory(services: Services) {
  return async (opts: ContextOptions): Promise<Context> => {
    const ws = isWebSocket(opts.res) ? opts.res : null;
    const ip = opts.ip ?? ('socket' in opts.req ? services.clientIp(opts.req) : null);
    const credential = ws ? (opts.info?.connectionParams?.token ?? null) : credentialOf(headersOf(opts.req));
    let principal: Principal | null = null;
    let authError: DomainError | null = null;
    try {
      principal = await services.auth.authenticate(credential, ip);
    } catch (e) {
      const domain = asDomainError(e);
      if (!domain) throw e;
      // A WebSocket whose token fails is refused outright, before any operation: tRPC answers with the
      // error (401, or 429 for an address refused for a while), then the connection closes with a code
      // that says so (4401, 4429), so a client knows not to retry with the same token.
      if (ws) {
        closeFor(ws, domain);
        throw toTRPCError(domain);
      }
      authError = domain;
    }
    if (ws && principal?.expiresAt) {
      // A JWT that expires ends its connection: the client reconnects with a fresh token.
      const expiresAt = principal.expiresAt;
      let timer: NodeJS.Timeout | undefined;
      const closeAtExpiry = () => {
        const left = expiresAt - Date.now();
        if (left <= 0) return ws.close(4401, 'token expired');
        // A timer holds at most ~24.8 days (a longer delay fires at once): farther expiries wait in steps.
        timer = setTimeout(closeAtExpiry, Math.min(left, LONGEST_TIMER_MS)).unref();
      };
      closeAtExpiry();
      ws.once('close', () => clearTimeout(timer));
    }
    const idempotencyKey = ws ? null : (headersOf(opts.req).get('idempotency-key') ?? null);
    const credentialLost = (error: DomainError) => ws && closeFor(ws, error);
    return { services, principal, authError, ip, idempotencyKey, waitForDrain: drainWaiter(opts.res), credentialLost, transport: ws ? 'websocket' : 'trpc-sse' };
  };
}
