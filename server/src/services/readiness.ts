/**
 * Readiness: whether this server can do its work now. The database answers, the log directory takes
 * a write, and its file system has room (READY_MIN_FREE_BYTES). /ready answers 503 with the failing
 * checks otherwise, so a load balancer sends traffic elsewhere; /health stays a liveness check.
 */
import { statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readiness } from '../../../shared/src/schemas/health';

export interface ReadinessOptions {
  logDir: string;
  minFreeBytes: number;
  /** Throws when the database cannot answer. */
  pingDatabase: () => Promise<void>;
}

export async function diskSpace(dir: string): Promise<{ free_bytes: number; total_bytes: number }> {
  const s = await statfs(dir);
  return { free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize };
}

/** Probes at once (a start checks readiness too) each write a file of their own. */
let probes = 0;

const failure = (e: unknown) => ({ ok: false as const, error: (e as Error).message || String(e) });

/** The three checks at once: a start waits for the slowest of them, not for their sum. */
export async function checkReadiness(options: ReadinessOptions): Promise<Readiness> {
  const probe = path.join(options.logDir, `.ready-${process.pid}-${++probes}`);
  const [database, logDir, disk] = await Promise.all([
    Promise.try(options.pingDatabase).then(() => ({ ok: true as const, error: null }), failure),
    writeFile(probe, 'ok')
      .then(() => unlink(probe))
      .then(() => ({ ok: true as const, error: null }), failure),
    diskSpace(options.logDir).then(
      (space) => ({ ok: space.free_bytes >= options.minFreeBytes, ...space, min_free_bytes: options.minFreeBytes, error: space.free_bytes >= options.minFreeBytes ? null : `only ${space.free_bytes} bytes free, less than READY_MIN_FREE_BYTES (${options.minFreeBytes})` }),
      (e: unknown) => ({ ok: false, free_bytes: 0, total_bytes: 0, min_free_bytes: options.minFreeBytes, error: (e as Error).message }),
    ),
  ]);
  return { ready: database.ok && logDir.ok && disk.ok, checks: { database, log_dir_writable: logDir, disk } };
}

/**
 * `check`, with the calls made while one is under way answered by that one: in a storm of starts
 * (each asks) the probes are one at a time, not one file written and removed per start. An answer
 * is never older than the probe that was under way when it was asked for.
 */
export function sharedProbe<T>(check: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | null = null;
  return () => (current ??= check().finally(() => (current = null)));
}
