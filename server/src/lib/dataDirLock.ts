/**
 * One process of a kind per LOG_DIR: a lock file naming its holder (pid, host, PID namespace, boot and
 * the process's start time), put in place with link(2), which fails when the file exists and never
 * shows a half-written one. Node has no fcntl or flock without a native module; this needs none.
 *
 * A lock whose holder is gone is taken over: on this host (same boot and PID namespace) when its pid
 * is dead or now belongs to a process started at another time (pid reuse, a restarted container). A
 * holder on another host, or in another PID namespace, cannot be checked from here: the lock is then
 * refused, saying whom it names and which file to delete once that process is known to be gone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export class DataDirLockError extends Error {}

interface Holder {
  pid: number;
  host: string;
  /** What holds it, as people say it: "a single server", "an API node", "a worker". */
  role: string;
  since: string;
  /** The kernel's boot id: pids of another boot say nothing. */
  boot: string | null;
  /** The PID namespace the pid is in: pids of another one cannot be checked from here. */
  pidNs: string | null;
  /** The process's start time (clock ticks after boot): a pid reused by another process starts at another time. */
  started: string | null;
  token: string;
}

/** A guard of a takeover under way older than this was left by a process that died in it. */
const TAKEOVER_STALE_MS = 30_000;

/** Deletes a file that may be gone already. */
function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
};

/** When process `pid` started, in clock ticks after boot (field 22 of /proc/<pid>/stat), or null. */
function startTime(pid: number): string | null {
  const stat = read(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces and parentheses): the 22nd is the 20th after it.
  return stat ? (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null) : null;
}

function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

function me(role: string): Holder {
  return {
    pid: process.pid,
    host: hostname(),
    role,
    since: new Date().toISOString(),
    boot: read('/proc/sys/kernel/random/boot_id'),
    pidNs: pidNamespace(),
    started: startTime(process.pid),
    token: randomBytes(8).toString('hex'),
  };
}

function holderOf(file: string): Holder | null {
  const text = read(file);
  if (text === null) return null;
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? ({ role: 'a process', since: '?', boot: null, pidNs: null, started: null, token: '', ...h } as Holder) : null;
  } catch {
    return null;
  }
}

/** Whether the holder may still be running: 'gone', 'alive', or 'unknown' (another host or PID namespace). */
function holderState(holder: Holder, self: Holder): 'gone' | 'alive' | 'unknown' {
  if (holder.host !== self.host) return 'unknown';
  if (holder.boot && self.boot && holder.boot !== self.boot) return 'gone';
  if (holder.pidNs && self.pidNs && holder.pidNs !== self.pidNs) return 'unknown';
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
  }
  const started = startTime(holder.pid);
  return holder.started && started && holder.started !== started ? 'gone' : 'alive';
}

/** Puts `content` at `file` only if nothing is there (link(2) is atomic and never replaces). */
function place(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function refusal({ dir, file, holder, state }: { dir: string; file: string; holder: Holder | null; state: 'alive' | 'unknown' | 'busy' }): string {
  const who = holder ? `${holder.role} (pid ${holder.pid} on host ${holder.host}, since ${holder.since})` : 'another process';
  const base = `LOG_DIR ${dir} is in use by ${who}: two servers must not share one LOG_DIR (give each API node and each worker its own; an API node and a worker may share one)`;
  if (state === 'unknown') return `${base}. Its holder cannot be checked from here (another host or container); if it is gone, delete ${file}`;
  if (state === 'busy') return `${base}. Another process is taking over its stale lock right now (${file}.takeover)`;
  return `${base}. Lock file: ${file}`;
}

/**
 * Takes the lock `name` (a file `<name>.lock` in `dir`) for this process, as `role`; throws a
 * DataDirLockError naming the holder when another live process has it. Answers what it took over (a
 * stale holder) or null; the lock is given back when the process exits.
 */
export function lockDataDir(dir: string, name: string, role: string): { tookOverFrom: string | null } {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.lock`);
  const self = me(role);
  const content = JSON.stringify(self);
  let tookOverFrom: string | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (place(file, content)) {
      process.once('exit', () => {
        if (holderOf(file)?.token === self.token) remove(file);
      });
      return { tookOverFrom };
    }
    const holder = holderOf(file);
    if (!holder && existsSync(file)) throw new DataDirLockError(`LOG_DIR ${dir} has a lock file that cannot be read (${file}): delete it once no server uses this LOG_DIR`);
    if (!holder) continue; // released meanwhile: try again
    const state = holderState(holder, self);
    if (state !== 'gone') throw new DataDirLockError(refusal({ dir, file, holder, state }));
    if (!takeOver(file, holder, content)) throw new DataDirLockError(refusal({ dir, file, holder, state: 'busy' }));
    tookOverFrom = `${holder.role} (pid ${holder.pid}, since ${holder.since})`;
  }
  throw new DataDirLockError(refusal({ dir, file, holder: holderOf(file), state: 'busy' }));
}

/**
 * Removes a stale lock, one taker at a time: two processes that both found it stale must not both
 * delete it (the second would delete the first one's new lock). Answers false when another process is
 * taking it over now.
 */
function takeOver(file: string, stale: Holder, content: string): boolean {
  const guard = `${file}.takeover`;
  if (!place(guard, content)) {
    const age = (() => {
      try {
        return Date.now() - statSync(guard).mtimeMs;
      } catch {
        return Infinity;
      }
    })();
    if (age < TAKEOVER_STALE_MS) return false;
    remove(guard);
    if (!place(guard, content)) return false;
  }
  try {
    // Still the stale holder's (not released and taken again meanwhile): delete it; the caller places its own.
    if (holderOf(file)?.token === stale.token) remove(file);
    return true;
  } finally {
    remove(guard);
  }
}
