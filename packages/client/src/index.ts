/**
 * @oss-runner/client: the types of OSS Runner's API for programs outside this repository. `AppRouter`
 * types a tRPC client (`createTRPCClient<AppRouter>`); the REST types (Run, Tool, RunList, LogEventData,
 * ApiError...) are those of shared/src/schemas, the one source the server answers from.
 */
export type { AppRouter } from '../../../server/src/routers/index';
export type * from '../../../shared/src/index';
