import { AuditList, AuditListInput } from '../../../shared/src/schemas/auth';
import { adminProcedure, router } from '../trpc/init';

export const auditRouter = router({
  list: adminProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/audit',
        tags: ['audit'],
        summary: 'The audit log, newest first',
        description: 'Every start, stop, key creation and revocation, and every refused attempt. Needs the admin role.',
        errorResponses: { 400: 'Invalid filter or cursor', 401: 'No credential, or one that does not verify', 403: 'Needs the admin role' },
      },
    })
    .input(AuditListInput)
    .output(AuditList)
    .query(({ ctx, input }) => ctx.services.audit.list(input)),
});
