import { z } from 'zod';
import { ToolList } from '../../../shared/src/schemas/tool';
import { publicProcedure, router } from '../trpc/init';

export const catalogRouter = router({
  list: publicProcedure
    .meta({ openapi: { method: 'GET', path: '/opensource-list', tags: ['catalog'], summary: 'The tools this server can run', protect: false } })
    .input(z.void())
    .output(ToolList)
    .query(({ ctx }) => ({ items: ctx.services.catalog.list() })),
});
