/**
 * One createContext for every way in: tRPC over HTTP (a node request), over WebSocket (the socket as
 * `res`, the token in connectionParams) and the REST handler (a Fetch Request). It verifies the
 * credential once, and hands procedures the services, the caller, and a way to wait while the
 * client's connection is backed up.
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { DomainError } from '../errors';
import type { Services } from '../services';
import type { Principal } from '../services/auth/principal';

export interface Context {
  services: Services;
  /** The verified caller, or null when no credential was sent (or it failed: see authError). */
  principal: Principal | null;
  /** Why the credential that was sent was refused; protected procedures throw it. */
  authError: DomainError | null;
  ip: string | null;
  /** Resolves once the connection has room for more: tRPC's WebSocket adapter has no backpressure of its own. */
  waitForDrain: (signal?: AbortSignal) => Promise<void>;
}

/** Bytes a WebSocket may have queued before a stream waits for the client to read. */
const WS_HIGH_WATER = 256 * 1024;

interface Drainable {
  bufferedAmount?: number;
  writableNeedDrain?: boolean;
  once?: (event: 'drain' | 'close', listener: () => void) => unknown;
}

function drainWaiter(res: unknown): Context['waitForDrain'] {
  const conn = (res ?? {}) as Drainable;
  if (typeof conn.bufferedAmount === 'number') {
    return async (signal) => {
      while ((conn.bufferedAmount ?? 0) > WS_HIGH_WATER && !signal?.aborted) await sleep(5);
    };
  }
  return async () => {
    if (conn.writableNeedDrain && conn.once) await new Promise<void>((resolve) => (conn.once?.('drain', resolve), conn.once?.('close', resolve)));
  };
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

const isWebSocket = (res: unknown): res is WebSocket => typeof (res as { bufferedAmount?: unknown } | undefined)?.bufferedAmount === 'number';

export function contextFactory(services: Services) {
  return async (opts: ContextOptions): Promise<Context> => {
    const ws = isWebSocket(opts.res) ? opts.res : null;
    const ip = opts.ip ?? ('socket' in opts.req ? (opts.req.socket.remoteAddress ?? null) : null);
    const credential = ws ? (opts.info?.connectionParams?.token ?? null) : credentialOf(headersOf(opts.req));
    let principal: Principal | null = null;
    let authError: DomainError | null = null;
    try {
      principal = await services.auth.authenticate(credential, ip);
    } catch (e) {
      if (!(e instanceof DomainError)) throw e;
      // A WebSocket whose token fails is refused outright, before any operation.
      if (ws) throw e;
      authError = e;
    }
    if (ws && principal?.expiresAt) {
      // A JWT that expires ends its connection: the client reconnects with a fresh token.
      const timer = setTimeout(() => ws.close(4401, 'token expired'), Math.max(0, principal.expiresAt - Date.now()));
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    }
    return { services, principal, authError, ip, waitForDrain: drainWaiter(opts.res) };
  };
}
