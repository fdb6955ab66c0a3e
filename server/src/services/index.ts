import type { Fleet, FleetCounts } from '../../../shared/src/schemas/fleet';
import type { Capabilities, Readiness } from '../../../shared/src/schemas/health';
import type { IncomingMessage } from 'node:http';
import type { Metrics } from '../metrics';
import type { AuditLog } from './audit';
import type { ApiKeyService } from './auth/apiKeys';
import type { Authenticator } from './auth/authenticator';
import type { LogTokenService } from './auth/logTokens';
import type { CatalogView } from './catalog';
import type { LogStreamer } from './logStream';
import type { RunService } from './runs';
import type { ScheduleService } from './schedules/scheduleService';
import type { WebhookService } from './webhooks';

/** What /fleet and /health tell of a fleet, from an API node (fleet/api.ts); none on a single server. */
export interface FleetView {
  describe(): Promise<Fleet>;
  counts(): Promise<FleetCounts>;
}

/** Everything a transport needs from the domain, built once in main.ts. */
export interface Services {
  appName: string;
  version: string;
  startedAt: number;
  isolation: 'pid-namespace' | 'process-group';
  capabilities: Capabilities;
  logDir: string;
  /** The caller's address (through trusted proxies). */
  clientIp: (req: IncomingMessage) => string | null;
  metrics: Metrics;
  /** Aborted when the server begins to shut down: live streams end so their clients resume elsewhere. */
  stopping: AbortSignal;
  readiness: () => Promise<Readiness>;
  /** The catalog as listed: this server's, or on a fleet's API node, where its workers can run each tool. */
  catalog: CatalogView;
  runs: RunService;
  logs: LogStreamer;
  auth: Authenticator;
  apiKeys: ApiKeyService;
  logTokens: LogTokenService;
  audit: AuditLog;
  /** On a fleet (REDIS_URL): who is alive, the queues. Null on a single server. */
  fleet: FleetView | null;
  schedules: ScheduleService;
  webhooks: WebhookService;
}
