import { z } from 'zod';
import { Fleet } from '../../../shared/src/schemas/fleet';
import { notFound } from '../errors';
import { adminProcedure, router } from '../trpc/init';

export const fleetRouter = router({
  get: adminProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/fleet',
        tags: ['service'],
        summary: 'The fleet: API nodes and workers, who is alive and what each runs, and the run queues',
        description: 'Only on a fleet (REDIS_URL); a single server answers 404. Needs the admin role.',
        errorResponses: { 401: 'No credential, or one that does not verify', 403: 'Needs the admin role', 404: 'Not a fleet', 503: 'The database or Redis is unavailable' },
      },
    })
    .input(z.void())
    .output(Fleet)
    .query(({ ctx }) => {
      if (!ctx.services.fleet) throw notFound('this server is not part of a fleet (it runs without REDIS_URL)');
      return ctx.services.fleet.describe();
    }),
});
