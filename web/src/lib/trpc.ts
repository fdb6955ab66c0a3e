/**
 * The typed tRPC client: subscriptions over one WebSocket (the credential goes in connectionParams,
 * since a browser cannot set headers on it), everything else batched over HTTP. Types come only
 * from the server's `type AppRouter`.
 */
import { QueryCache, QueryClient, MutationCache } from '@tanstack/react-query';
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, TRPCClientError, wsLink } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import type { AppRouter } from '../../../server/src/routers';
import { session } from './session';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

const isUnauthorized = (e: unknown) => e instanceof TRPCClientError && (e.data as { code?: string } | undefined)?.code === 'UNAUTHORIZED';

/** Any 401 brings the sign-in back over the current page. */
const onError = (e: unknown) => {
  if (isUnauthorized(e)) session.markRefused();
};

export function createQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({ onError }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: { queries: { retry: (count, e) => !isUnauthorized(e) && count < 2, refetchOnWindowFocus: false } },
  });
}

/** The WebSocket's state: `connecting` also while it reconnects after a drop. */
export type ConnectionState = 'idle' | 'connecting' | 'pending';

export function createClients(credential: string | null, onConnection: (state: ConnectionState) => void) {
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/trpc`;
  const wsClient = createWSClient({
    url: wsUrl,
    connectionParams: () => (credential ? { token: credential } : {}),
    retryDelayMs: (attempt) => Math.min(500 * 2 ** attempt, 5000),
    keepAlive: { enabled: true, intervalMs: 20_000, pongTimeoutMs: 5_000 },
  });
  wsClient.connectionState.subscribe({ next: (s) => onConnection(s.state) });
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: wsClient }),
        // The server refuses batches of more than TRPC_MAX_BATCH procedures (50 by default).
        false: httpBatchLink({ url: '/trpc', maxItems: 10, headers: () => (credential ? { authorization: `Bearer ${credential}` } : {}) }),
      }),
    ],
  });
  return { client, close: () => void wsClient.close() };
}

export { isUnauthorized };
