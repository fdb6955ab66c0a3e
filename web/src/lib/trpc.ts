/**
 * The typed tRPC client: subscriptions over one WebSocket (the credential goes in connectionParams,
 * since a browser cannot set headers on it), everything else batched over HTTP. Types come only
 * from the server's `type AppRouter`.
 *
 * A refused credential fails safe: once the server has said 401 (or closed the WebSocket with 4401 or
 * 4403), nothing more is sent with it, no retry and no reconnection (each would count as a failed
 * sign-in towards the server's limit per address), and the sign-in comes back. After a 429 (or 4429)
 * nothing is sent until the server's Retry-After is over; then the connections start again.
 */
import { QueryCache, QueryClient, MutationCache } from '@tanstack/react-query';
import { createTRPCClient, createWSClient, httpBatchLink, httpLink, splitLink, TRPCClientError, wsLink, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { AppRouter } from '../../../server/src/routers';
import { session } from './session';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

type ErrorData = { code?: string; retryAfterS?: number } | undefined;
const dataOf = (e: unknown) => (e instanceof TRPCClientError ? (e.data as ErrorData) : undefined);
const codeOf = (e: unknown) => dataOf(e)?.code;
const isUnauthorized = (e: unknown) => codeOf(e) === 'UNAUTHORIZED';

/** Answers that asking again at once would not change: no retry. */
const FINAL = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'TOO_MANY_REQUESTS', 'NOT_FOUND', 'BAD_REQUEST']);

/** When the server gives no wait with its 429, that of its default window for failed sign-ins: a minute. */
const DEFAULT_WAIT_S = 60;

/** Any 401 brings the sign-in back over the current page; a 429 holds every request for as long as the server says. */
const onError = (e: unknown) => {
  if (isUnauthorized(e)) session.markRefused();
  else if (codeOf(e) === 'TOO_MANY_REQUESTS') session.markThrottled(dataOf(e)?.retryAfterS ?? DEFAULT_WAIT_S);
};

/** Sends nothing while the session is blocked (refused, or waiting out a 429): the request fails here instead. */
const holdWhileBlocked: TRPCLink<AppRouter> = () => ({ op, next }) =>
  observable((observer) => {
    if (!session.blocked) return next(op).subscribe(observer);
    observer.error(TRPCClientError.from(new Error('not sent: sign in again, or wait for the server to accept requests')));
  });

export function createQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({ onError }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: { queries: { retry: (count, e) => !session.blocked && !FINAL.has(codeOf(e) ?? '') && count < 2, refetchOnWindowFocus: false } },
  });
}

/** The WebSocket's state: `reconnecting` only once it has been open (the first connection is no news). */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting';

export function createClients(credential: string | null, onConnection: (state: ConnectionState) => void) {
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/trpc`;
  const wsClient = createWSClient({
    url: wsUrl,
    connectionParams: () => (credential ? { token: credential } : {}),
    retryDelayMs: (attempt) => Math.min(500 * 2 ** attempt, 5000),
    keepAlive: { enabled: true, intervalMs: 20_000, pongTimeoutMs: 5_000 },
    onClose: (cause) => {
      const code = cause?.code;
      if (code !== 4401 && code !== 4403 && code !== 4429) return;
      void wsClient.close(); // no reconnection with this credential
      if (code === 4429) session.markThrottled(Number(/retry after (\d+) s/.exec((cause as { reason?: string }).reason ?? '')?.[1] ?? DEFAULT_WAIT_S));
      else session.markRefused();
    },
  });
  let wasOpen = false;
  wsClient.connectionState.subscribe({
    next: ({ state }) => {
      wasOpen ||= state === 'pending';
      onConnection(state === 'pending' ? 'open' : state === 'connecting' && wasOpen ? 'reconnecting' : state);
    },
  });
  const headers = () => (credential ? { authorization: `Bearer ${credential}` } : {});
  const client = createTRPCClient<AppRouter>({
    links: [
      holdWhileBlocked,
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: wsClient }),
        false: splitLink({
          // A log's count of lines takes a moment for a long log: asked alone, it holds back no other answer.
          condition: (op) => op.path === 'runs.logLines',
          true: httpLink({ url: '/trpc', headers }),
          // The server refuses batches of more than TRPC_MAX_BATCH procedures (50 by default).
          false: httpBatchLink({ url: '/trpc', maxItems: 10, headers }),
        }),
      }),
    ],
  });
  return { client, close: () => void wsClient.close() };
}

export { isUnauthorized };
