// The web app's entry: providers, sign-in, and the two pages (home, a run).
import { QueryClientProvider, useQuery, type QueryClient } from '@tanstack/react-query';
import { StrictMode, Suspense, useEffect, useState, type MouseEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { hasRole } from '../../shared/src/schemas/enums';
import { SessionBar } from './features/auth/SessionBar';
import { SignIn } from './features/auth/SignIn';
import { RunPage } from './features/runs/RunPage';
import { homePath, linkProps, schedulesPath, useRoute, webhooksPath } from './lib/router';
import { session, tokenInfo, useSession } from './lib/session';
import { useNow } from './components/useNow';
import { RunList, SchedulesPage, ToolList, WebhooksPage } from './pages';
import { createClients, createQueryClient, TRPCProvider, useTRPC, type ConnectionState } from './lib/trpc';
import './styles.css';

function Shell({ connection }: { connection: ConnectionState }) {
  const trpc = useTRPC();
  const route = useRoute();
  const { credential, refused, throttledUntil } = useSession();
  const health = useQuery(trpc.health.get.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  if (me.data?.role) session.markAccepted();
  useExpiry(credential);
  // Only the pages that list the tools ask for them: a run's page starts without waiting on the list.
  const tools = useQuery(trpc.catalog.list.queryOptions(undefined, { enabled: route.page === 'home' || route.page === 'webhooks' }));
  const appName = health.data?.app_name ?? 'OSS Runner';
  // The tab names the page: the run page names its run itself.
  useEffect(() => {
    const titles: Partial<Record<string, string>> = { home: 'Runs', schedules: 'Schedules', webhooks: 'Webhooks' };
    const title = titles[route.page];
    if (route.page !== 'run') document.title = title ? `${title} · ${appName}` : appName;
  }, [appName, route.page]);

  const authDisabled = me.data?.auth_disabled ?? false;
  const needsSignIn = refused !== null || (me.isSuccess && !authDisabled && (!credential || me.data.role === null));
  // With a credential the server accepted before, a run's page opens at once, as a viewer's (every role
  // may view; Run again and Stop come with /me's answer), its requests going out beside /me. A refusal
  // of any of them brings the sign-in back as before; a credential never accepted (a mistyped key)
  // waits for /me, and nothing more is sent with it.
  const role = me.data?.role ?? (route.page === 'run' && me.isPending && credential !== null && session.known ? 'viewer' : null);

  return (
    <>
      <a className="skip-link" href="#main" onClick={skipToContent}>
        Skip to content
      </a>
      <header className="top">
        <h1>
          <a {...linkProps(homePath())}>{appName}</a>
        </h1>
        {hasRole(role, 'viewer') && (
          <nav aria-label="Pages">
            <a {...linkProps(schedulesPath())} aria-current={route.page === 'schedules' ? 'page' : undefined}>
              Schedules
            </a>
            {hasRole(role, 'admin') && (
              <a {...linkProps(webhooksPath())} aria-current={route.page === 'webhooks' ? 'page' : undefined}>
                Webhooks
              </a>
            )}
          </nav>
        )}
        <SessionBar me={me.data} credential={credential} />
      </header>
      {throttledUntil !== null && <ThrottledBanner until={throttledUntil} />}
      {connection === 'reconnecting' && !session.blocked && (
        <p className="banner" role="status">
          Reconnecting to the server…
        </p>
      )}
      {route.page === 'home' && (
        <main id="main" tabIndex={-1}>
          <Suspense fallback={null}>
            {hasRole(role, 'viewer') && <RunList search={route.search} tools={tools.data?.items.map((t) => t.name) ?? []} />}
            <ToolList canRun={hasRole(role, 'operator')} />
          </Suspense>
        </main>
      )}
      {route.page === 'run' && hasRole(role, 'viewer') && <RunPage key={route.runId} runId={route.runId} canStop={hasRole(role, 'operator')} appName={appName} reconnecting={connection === 'reconnecting'} />}
      <Suspense fallback={null}>
        {route.page === 'schedules' && hasRole(role, 'viewer') && <SchedulesPage role={role} />}
        {route.page === 'webhooks' && hasRole(role, 'admin') && <WebhooksPage tools={tools.data?.items.map((t) => t.name) ?? []} />}
      </Suspense>
      {route.page === 'not-found' && (
        <main id="main" tabIndex={-1}>
          <p>
            There is nothing here. <a {...linkProps(homePath())}>Go to the runs</a>.
          </p>
        </main>
      )}
      {needsSignIn && <SignIn refused={refused ?? (credential && me.data?.role === null ? 'rejected' : null)} credential={credential} />}
      <footer className="muted">
        <a href="/docs">API documentation</a>
      </footer>
    </>
  );
}

/** The skip link moves focus to the page's main content (without a #main in the address: the router keeps the path). */
function skipToContent(e: MouseEvent) {
  const main = document.getElementById('main');
  if (!main) return;
  e.preventDefault();
  main.focus();
  main.scrollIntoView();
}

/** At a JWT's expiry the sign-in comes back (the server would refuse it from then on anyway). */
function useExpiry(credential: string | null) {
  useEffect(() => {
    const expiresAt = credential ? tokenInfo(credential).expiresAt : null;
    if (expiresAt === null) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // setTimeout holds at most 2^31-1 ms (24.8 days): a later expiry is waited for in steps.
    const wait = () => {
      const left = expiresAt - Date.now();
      if (left <= 0) session.markRefused();
      else timer = setTimeout(wait, Math.min(left, 2 ** 31 - 1));
    };
    wait();
    return () => clearTimeout(timer);
  }, [credential]);
}

/** The wait a 429 asked for, counted down; the app starts again by itself when it is over. */
function ThrottledBanner({ until }: { until: number }) {
  const now = useNow(true, 1000);
  return (
    <p className="banner" role="status">
      The server refuses requests from this address for now (too many failed sign-ins or starts). The app tries again by itself in {Math.max(0, Math.ceil((until - now) / 1000))} s.
    </p>
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
  const { credential, generation } = useSession();
  // A new sign-in, or the end of a wait, makes the clients anew: the refused ones never reconnect.
  return <Connected key={generation} credential={credential} />;
}

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
