/**
 * What a run is held to: its limits (the tool's own, else the server's defaults, each only where the
 * executor can enforce it) and its sandbox (what it may read and write, what is kept from it).
 */
import { realpathSync } from 'node:fs';
import type { Capabilities } from '../../../../shared/src/schemas/health';
import type { RunLimits } from '../../../../shared/src/schemas/run';
import type { SandboxSpec } from '../../process/executor';
import type { ToolEntry } from '../catalog';

/** The limits of tools that set none of their own (0: none), applied where the executor can. */
export interface LimitDefaults {
  memoryBytes: number;
  pids: number;
  cpuS: number;
  fileBytes: number;
  diskBytes: number;
  network: boolean;
}

/** A tool whose own limit cannot be enforced is refused before this. */
export function limitsFor({ entry, can, defaults, maxLogBytes }: { entry: ToolEntry; can: Capabilities; defaults: LimitDefaults; maxLogBytes: number }): RunLimits {
  const pick = (own: number | undefined, fallback: number, capability: keyof Capabilities) => (can[capability].enforced ? own ?? (fallback || null) : null);
  return {
    memory_bytes: pick(entry.limits?.memory_bytes, defaults.memoryBytes, 'memory'),
    pids: pick(entry.limits?.pids, defaults.pids, 'pids'),
    cpu_s: pick(entry.limits?.cpu_s, defaults.cpuS, 'cpu_time'),
    file_bytes: pick(entry.limits?.file_bytes, defaults.fileBytes, 'file_size'),
    disk_bytes: pick(entry.limits?.disk_bytes, defaults.diskBytes, 'disk'),
    log_bytes: entry.limits?.log_bytes ?? maxLogBytes,
    network: can.network_off.enforced ? (entry.network ?? defaults.network) : true,
    sandbox: can.sandbox.enforced,
  };
}

export interface SandboxBase {
  /** Kept readable for every tool (the project, whose node_modules/.bin may hold tools). */
  readable: string[];
  /** Kept from every tool: the server's data directory and secrets files. */
  hiddenDirs: string[];
  hiddenFiles: string[];
}

/** `writable`: the run's own directories. */
export function sandboxFor({ entry, base, limits, writable }: { entry: ToolEntry; base: SandboxBase; limits: RunLimits; writable: string[] }): SandboxSpec {
  // Mount points must be real paths, and may only be mounted over where they exist (now).
  const real = (p: string) => {
    try {
      return [realpathSync(p)];
    } catch {
      return [];
    }
  };
  const roots = Object.values(entry.params).flatMap((p) => (p.type === 'path' ? p.roots.flatMap(real) : []));
  return {
    network: limits.network,
    writable,
    readable: [...new Set([...base.readable, ...roots])],
    hiddenDirs: base.hiddenDirs,
    hiddenFiles: base.hiddenFiles.flatMap(real),
  };
}
