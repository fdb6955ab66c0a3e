/**
 * One createContext for every way in: tRPC over HTTP (node request), over WebSocket (the socket as
 * `res`) and the REST handler (a Fetch Request). It hands procedures the services and a way to wait
 * while the client's connection is backed up.
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Services } from '../services';

export interface Context {
  services: Services;
  /** Who is asking, as recorded on runs (`requested_by`, `stopped_by`). */
  principal: string | null;
  /** Resolves once the connection has room for more: tRPC's WebSocket adapter has no backpressure of its own. */
  waitForDrain: (signal?: AbortSignal) => Promise<void>;
}

/** Bytes a WebSocket may have queued before a stream waits for the client to read. */
const WS_HIGH_WATER = 1024 * 1024;

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

export function contextFactory(services: Services) {
  return (opts: { req: IncomingMessage | Request; res?: unknown }): Promise<Context> =>
    Promise.resolve({ services, principal: null, waitForDrain: drainWaiter(opts.res) });
}
