import { router } from '../trpc/init';
import { apiKeysRouter } from './apiKeys';
import { auditRouter } from './audit';
import { authRouter } from './auth';
import { catalogRouter } from './catalog';
import { fleetRouter } from './fleet';
import { healthRouter } from './health';
import { runsRouter } from './runs';
import { schedulesRouter } from './schedules';
import { webhooksRouter } from './webhooks';

export const appRouter = router({
  health: healthRouter,
  auth: authRouter,
  catalog: catalogRouter,
  runs: runsRouter,
  apiKeys: apiKeysRouter,
  audit: auditRouter,
  fleet: fleetRouter,
  schedules: schedulesRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
