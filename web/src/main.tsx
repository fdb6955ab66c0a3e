// The web app's entry: providers, sign-in, and the two pages (home, a run).
import { QueryClientProvider, useQuery, type QueryClient } from '@tanstack/react-query';
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { hasRole } from '../../shared/src/schemas/auth';
import { SessionBar } from './features/auth/SessionBar';
import { SignIn } from './features/auth/SignIn';
import { RunList } from './features/runs/RunList';
import { RunPage } from './features/runs/RunPage';
import { ToolList } from './features/tools/ToolList';
import { homePath, linkProps, useRoute } from './lib/router';
import { useSession } from './lib/session';
import { createClients, createQueryClient, TRPCProvider, useTRPC, type ConnectionState } from './lib/trpc';
import './styles.css';

function Shell({ connection }: { connection: ConnectionState }) {
  const trpc = useTRPC();
  const route = useRoute();
  const { credential, refused } = useSession();
  const health = useQuery(trpc.health.get.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const tools = useQuery(trpc.catalog.list.queryOptions());
  const appName = health.data?.app_name ?? 'OSS Runner';
  useEffect(() => {
    document.title = appName;
  }, [appName]);

  const authDisabled = me.data?.auth_disabled ?? false;
  const needsSignIn = refused || (me.isSuccess && !authDisabled && (!credential || me.data.role === null));
  const role = me.data?.role ?? null;

  return (
    <>
      <header className="top">
        <h1>
          <a {...linkProps(homePath())}>{appName}</a>
        </h1>
        <SessionBar me={me.data} credential={credential} />
      </header>
      {connection === 'connecting' && (
        <p className="banner" role="status">
          Reconnecting to the server…
        </p>
      )}
      {route.page === 'home' && (
        <main>
          <ToolList canRun={hasRole(role, 'operator')} />
          {hasRole(role, 'viewer') && <RunList search={route.search} tools={tools.data?.items.map((t) => t.name) ?? []} />}
        </main>
      )}
      {route.page === 'run' && hasRole(role, 'viewer') && <RunPage key={route.runId} runId={route.runId} canStop={hasRole(role, 'operator')} />}
      {route.page === 'not-found' && (
        <main>
          <p>
            There is nothing here. <a {...linkProps(homePath())}>Go to the runs</a>.
          </p>
        </main>
      )}
      {needsSignIn && <SignIn refused={refused || (Boolean(credential) && me.data?.role === null)} />}
      <footer className="muted">
        <a href="/docs">API documentation</a>
      </footer>
    </>
  );
}

/** Clients for one credential: a new credential means new connections (the WebSocket carries it from its first message). */
function Connected({ credential }: { credential: string | null }) {
  const [connection, setConnection] = useState<ConnectionState>('idle');
  const [clients, setClients] = useState<(ReturnType<typeof createClients> & { queryClient: QueryClient }) | null>(null);
  useEffect(() => {
    const created = { ...createClients(credential, setConnection), queryClient: createQueryClient() };
    setClients(created);
    return created.close;
  }, [credential]);
  if (!clients) return null;
  return (
    <QueryClientProvider client={clients.queryClient}>
      <TRPCProvider trpcClient={clients.client} queryClient={clients.queryClient}>
        <Shell connection={connection} />
      </TRPCProvider>
    </QueryClientProvider>
  );
}

function App() {
  const { credential } = useSession();
  return <Connected key={credential ?? ''} credential={credential} />;
}

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
