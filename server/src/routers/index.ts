import { router } from '../trpc/init';
import { catalogRouter } from './catalog';
import { healthRouter } from './health';
import { runsRouter } from './runs';

export const appRouter = router({
  health: healthRouter,
  catalog: catalogRouter,
  runs: runsRouter,
});

export type AppRouter = typeof appRouter;
