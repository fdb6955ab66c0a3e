import { z } from 'zod';
import { Health } from '../../../shared/src/schemas/health';
import { diskSpace } from '../services/readiness';
import { publicProcedure, router } from '../trpc/init';

export const healthRouter = router({
  get: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/health', tags: ['service'], summary: 'Service status and run counts', protect: false } })
    .input(z.void())
    .output(Health)
    .query(async ({ ctx }) => {
      const { appName, version, startedAt, isolation, capabilities, runs, logDir, fleet } = ctx.services;
      return {
        status: 'ok' as const,
        app_name: appName,
        version,
        uptime_s: Math.round((Date.now() - startedAt) / 100) / 10,
        // Liveness must not depend on the database: /ready is the check that does.
        runs: await runs.counts().catch(() => null),
        process_isolation: isolation,
        limits: capabilities,
        log_dir: await diskSpace(logDir).catch(() => ({ free_bytes: 0, total_bytes: 0 })),
        ...(fleet ? { fleet: await fleet.counts().catch(() => null) } : {}),
      };
    }),
});
