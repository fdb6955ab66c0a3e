import type { Catalog } from './catalog';
import type { LogStreamer } from './logStream';
import type { RunService } from './runService';

/** Everything a transport needs from the domain, built once in main.ts. */
export interface Services {
  appName: string;
  version: string;
  startedAt: number;
  isolation: 'pid-namespace' | 'process-group';
  catalog: Catalog;
  runs: RunService;
  logs: LogStreamer;
}
