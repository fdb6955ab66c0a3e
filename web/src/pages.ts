/**
 * The pages besides a run's, each a script of its own loaded when first shown: a run's page, opened by
 * its link, starts after less code is parsed (and without zod, which only the webhooks form uses). The
 * page the app opens on is asked for as this module loads, beside the app's first requests.
 */
import { lazy } from 'react';
import { routeNow } from './lib/router';

const loaders = {
  runList: () => import('./features/runs/RunList'),
  toolList: () => import('./features/tools/ToolList'),
  schedules: () => import('./features/schedules/SchedulesPage'),
  webhooks: () => import('./features/webhooks/WebhooksPage'),
};

const first = routeNow().page;
if (first === 'home') void Promise.all([loaders.runList(), loaders.toolList()]);
else if (first === 'schedules') void loaders.schedules();
else if (first === 'webhooks') void loaders.webhooks();

export const RunList = lazy(async () => ({ default: (await loaders.runList()).RunList }));
export const ToolList = lazy(async () => ({ default: (await loaders.toolList()).ToolList }));
export const SchedulesPage = lazy(async () => ({ default: (await loaders.schedules()).SchedulesPage }));
export const WebhooksPage = lazy(async () => ({ default: (await loaders.webhooks()).WebhooksPage }));
