/**
 * The app's two routes, under /ui/: the home page (catalog and runs) and /ui/runs/{run_id}. Deep
 * links survive a reload because the server answers every /ui/ path with the app.
 */
import { useSyncExternalStore } from 'react';

export type Route = { page: 'home'; search: URLSearchParams } | { page: 'run'; runId: string } | { page: 'schedules' } | { page: 'webhooks' } | { page: 'not-found' };

const BASE = '/ui';

function parse(): Route {
  const path = location.pathname.replace(/\/+$/, '');
  if (path === BASE || path === '') return { page: 'home', search: new URLSearchParams(location.search) };
  if (path === `${BASE}/schedules`) return { page: 'schedules' };
  const run = /^\/ui\/runs\/([^/]+)$/.exec(path);
  if (run?.[1]) return { page: 'run', runId: decodeURIComponent(run[1]) };
  if (path === `${BASE}/webhooks`) return { page: 'webhooks' };
  return { page: 'not-found' };
}

const listeners = new Set<() => void>();
let current = parse();
let currentHref = location.href;

function refresh() {
  if (location.href === currentHref) return;
  currentHref = location.href;
  current = parse();
  for (const l of listeners) l();
}
window.addEventListener('popstate', refresh);

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  refresh();
  if (opts.replace) return;
  window.scrollTo(0, 0);
  // A new page: focus starts at its content, as after a page load (the link that had it may be gone).
  requestAnimationFrame(() => document.getElementById('main')?.focus({ preventScroll: true }));
}

export const runPath = (runId: string) => `${BASE}/runs/${encodeURIComponent(runId)}`;
/** The schedules page; with an id, scrolled to that schedule's row. */
export const schedulesPath = (scheduleId?: string) => `${BASE}/schedules${scheduleId ? `#schedule-${encodeURIComponent(scheduleId)}` : ''}`;
export const webhooksPath = () => `${BASE}/webhooks`;
export const homePath = (search?: URLSearchParams) => `${BASE}/${search && search.size ? `?${search.toString()}` : ''}`;

/** The route now, outside React. */
export const routeNow = (): Route => current;

export function useRoute(): Route {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}

/** A link that navigates within the app without reloading it. */
export function linkProps(to: string) {
  return {
    href: to,
    onClick: (e: { preventDefault: () => void; metaKey: boolean; ctrlKey: boolean; shiftKey: boolean; button: number }) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(to);
    },
  };
}
