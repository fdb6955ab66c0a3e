/**
 * What the server and its spawn helper (spawnHelperProcess.ts) say to each other over Node's IPC channel
 * (JSON). Types only: the helper runs as plain Node with its types stripped, so nothing here may
 * need compiling.
 */

/** A command line as the executor built it (sandbox, cgroup, rlimits and user switch included). */
export interface HelperCommand {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** A process group of its own (setsid), killed whole when its leader exits. */
  detached: boolean;
}

export type ToHelper =
  /** Comes with the socket the tool writes its stdout and stderr to, as the message's handle. */
  | ({ op: 'spawn'; id: number } & HelperCommand)
  /** To the process, or its whole group; nothing once the helper has reaped it (its pid may be another's by then). */
  | { op: 'signal'; id: number; sig: NodeJS.Signals; group: boolean };

export type FromHelper =
  | { op: 'ready' }
  | { op: 'spawned'; id: number; pid: number; startTicks: string }
  | { op: 'failed'; id: number; message: string; code: string | null }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };
