/**
 * Control groups: a memory and a process-count limit for each run, and what the run used (peak
 * memory, CPU time, out-of-memory kills), with the cgroup v1 controllers (memory, pids, cpuacct).
 *
 * Runs live under a directory of their own beneath the server's cgroup
 * (`oss-runner/<scope>/<run_id>`, the scope naming this server's LOG_DIR), so they are charged to the
 * server's parent like the server is, never to anything wider, and servers of other data directories
 * on the same machine never touch each other's.
 *
 * A run is born inside its cgroup: its first process is a fixed `sh` script that writes its own pid
 * into the run's cgroups and then execs the rest of the command line, so the tool never runs a single
 * instruction outside its limits, and the server itself never enters a run's cgroup (where it would be
 * charged for the run's memory, or be the kernel's choice when the run runs out of it).
 * cgroup v2 is not supported yet: on a v2-only machine /health says the limits are not enforced and
 * tools that require them are refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { signal } from './procfs';

export interface CgroupLimits {
  memoryBytes?: number | undefined;
  pids?: number | undefined;
}

export interface CgroupUsage {
  peakMemoryBytes: number | null;
  cpuTimeMs: number | null;
  /** Processes of the run the kernel killed for going over the memory limit. */
  oomKills: number;
}

export interface RunCgroup {
  /** The argv prefix that starts `argv` inside the run's cgroups. */
  wrap(argv: string[]): string[];
  usage(): Promise<CgroupUsage>;
  /** SIGKILL to every process in the run's cgroup, until none is left (or a few rounds have passed). */
  killAll(): Promise<void>;
  /** Removes the run's cgroup once its processes are gone (waits a moment for the last to be reaped). */
  remove(): Promise<void>;
}

export interface Cgroups {
  readonly version: 'v1';
  readonly memory: boolean;
  readonly pids: boolean;
  create(runId: string, limits: CgroupLimits): Promise<RunCgroup>;
  /** Removes the cgroups of runs a crashed server left behind (those still holding processes stay). */
  sweep(): void;
  /** At shutdown: removes this server's (empty) directory of run cgroups. */
  close(): void;
}

export interface CgroupProbe {
  cgroups: Cgroups | null;
  /** Why a controller cannot be used, by name (memory, pids), and why none can when cgroups is null. */
  problems: Partial<Record<'memory' | 'pids' | 'cgroups', string>>;
}

const SUBTREE = 'oss-runner';

/**
 * The first process of a run: writes its pid into each cgroup directory given before `--`, then
 * becomes the rest of its arguments. A fixed script: the directories are the server's, the command
 * after `--` is only ever passed on by "$@", never read by the shell.
 */
const JOIN_AND_EXEC = 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';

interface Mount {
  /** Where the hierarchy is mounted, and the path inside it that the mount shows as its root. */
  dir: string;
  root: string;
  fstype: 'cgroup' | 'cgroup2';
  controllers: string[];
}

/** The cgroup hierarchies mounted here, from /proc/self/mountinfo. */
function cgroupMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const [, , , root = '/', dir = ''] = before.split(' ');
    const [fstype, , superOptions = ''] = after.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    mounts.push({ dir: unescapeMountPath(dir), root: unescapeMountPath(root), fstype, controllers: fstype === 'cgroup' ? superOptions.split(',') : [] });
  }
  return mounts;
}

const unescapeMountPath = (p: string) => p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** This process's cgroup path in each hierarchy, from /proc/self/cgroup ('' for the v2 one). */
function ownCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, , controllers = '', cgroupPath = '/'] = /^(\d+):([^:]*):(.*)$/.exec(line) ?? [];
    for (const c of controllers.split(',')) own.set(c, cgroupPath);
  }
  return own;
}

/** The directory of this process's cgroup in a mounted hierarchy. */
function ownDir(mount: Mount, cgroupPath: string): string {
  const relative = mount.root !== '/' && cgroupPath.startsWith(mount.root) ? cgroupPath.slice(mount.root.length) : cgroupPath;
  return path.join(mount.dir, relative);
}

/*
 * A run's cgroup files are read and written off the event loop (fs/promises): the kernel can take a
 * while over them (reading a memory cgroup's usage flushes its statistics; making one allocates its
 * state), and a start storm does this for every run.
 */
const readNumber = async (file: string): Promise<number | null> => {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
};

/** `key value` lines (memory.oom_control, memory.events, cpu.stat): one value, or null. */
const readKey = async (file: string, key: string): Promise<number | null> => {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(await readFile(file, 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
};

const KILL_ROUNDS = 10;

/** The pids a cgroup.procs file lists (zombies included: they are gone once reaped). */
function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: a process of the run has not been reaped yet.
      if (code !== 'EBUSY' || attempt >= 50) throw e;
      await sleep(20);
    }
  }
}

function sweepDir(base: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const name of entries) {
    try {
      rmdirSync(path.join(base, name));
    } catch {
      // still holds processes: left for the next start
    }
  }
}

/** cgroup v1: a directory per run in each of the memory, pids and cpuacct hierarchies that work. */
class CgroupsV1 implements Cgroups {
  readonly version = 'v1';

  /** @param bases where the runs' cgroups go, per controller (`<the server's cgroup>/oss-runner/<scope>`) */
  constructor(private readonly bases: { memory?: string | undefined; pids?: string | undefined; cpuacct?: string | undefined }) {}

  get memory() {
    return this.bases.memory !== undefined;
  }

  get pids() {
    return this.bases.pids !== undefined;
  }

  async create(runId: string, limits: CgroupLimits): Promise<RunCgroup> {
    const dirs = Object.fromEntries(Object.entries(this.bases).filter(([, base]) => base).map(([c, base]) => [c, path.join(base ?? '', runId)])) as typeof this.bases;
    const wanted = Object.values(dirs).filter((dir) => dir !== undefined);
    // Each hierarchy's directory at once; those made are removed again should any step fail.
    const tried = await Promise.allSettled(wanted.map((dir) => mkdir(dir)));
    const made = wanted.filter((_, i) => tried[i]?.status === 'fulfilled');
    try {
      const failed = tried.find((t) => t.status === 'rejected');
      if (failed) throw failed.reason;
      await Promise.all([
        dirs.memory && limits.memoryBytes ? this.limitMemory(dirs.memory, limits.memoryBytes) : undefined,
        dirs.pids && limits.pids ? writeFile(path.join(dirs.pids, 'pids.max'), String(limits.pids)) : undefined,
      ]);
    } catch (e) {
      await Promise.all(made.map((dir) => rmdir(dir)));
      throw e;
    }
    return {
      wrap: (argv) => ['/bin/sh', '-c', JOIN_AND_EXEC, 'oss-runner-cgroup', ...made, '--', ...argv],
      usage: async () => {
        const [peak, cpuNs, oomKills] = await Promise.all([
          dirs.memory ? readNumber(path.join(dirs.memory, 'memory.max_usage_in_bytes')) : null,
          dirs.cpuacct ? readNumber(path.join(dirs.cpuacct, 'cpuacct.usage')) : null,
          dirs.memory ? readKey(path.join(dirs.memory, 'memory.oom_control'), 'oom_kill') : null,
        ]);
        return { peakMemoryBytes: peak, cpuTimeMs: dirs.cpuacct ? Math.round((cpuNs ?? 0) / 1e6) : null, oomKills: oomKills || 0 };
      },
      killAll: async () => {
        for (let round = 0; round < KILL_ROUNDS; round++) {
          const pids = new Set(made.flatMap((dir) => readPids(path.join(dir, 'cgroup.procs'))));
          if (!pids.size) return;
          for (const pid of pids) signal(pid, 'SIGKILL');
          await sleep(20); // a process forking meanwhile shows up in the next round
        }
      },
      remove: async () => {
        await Promise.all(made.map(removeDir));
      },
    };
  }

  /** The memory limit; where swap is accounted, memory plus swap gets the same, so the run cannot swap its way past it. */
  private async limitMemory(dir: string, bytes: number): Promise<void> {
    await writeFile(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
    await writeFile(path.join(dir, 'memory.memsw.limit_in_bytes'), String(bytes)).catch(() => undefined); // no swap accounting on this kernel
  }

  sweep(): void {
    for (const base of Object.values(this.bases)) if (base) sweepDir(base);
  }

  close(): void {
    for (const base of Object.values(this.bases)) {
      if (!base) continue;
      sweepDir(base);
      try {
        rmdirSync(base);
      } catch {
        // a run's cgroup is still there: the next start sweeps it
      }
    }
  }
}

/** Makes `base` and a probe cgroup in it, and checks that a limit can be set there and a process can join it. */
function tryController(base: string, limitFile: string, value: string): string | null {
  const probe = path.join(base, `probe-${process.pid}`);
  try {
    mkdirSync(base, { recursive: true });
    mkdirSync(probe);
    writeFileSync(path.join(probe, limitFile), value);
    const joined = spawnSync('/bin/sh', ['-c', JOIN_AND_EXEC, 'oss-runner-cgroup', probe, '--', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 5000 });
    if (joined.status !== 0) throw new Error(`a process cannot join it: ${joined.stderr.trim() || joined.error?.message || `exit ${joined.status}`}`);
    return null;
  } catch (e) {
    return `${base}: ${(e as Error).message}`;
  } finally {
    try {
      rmdirSync(probe);
    } catch {
      // never made
    }
  }
}

function probeV1(mounts: Mount[], own: Map<string, string>, scope: string): CgroupProbe {
  const problems: CgroupProbe['problems'] = {};
  /** The controller's base for runs when it works here, else undefined and why. */
  const usable = (controller: string, limitFile: string, value: string): { base?: string; problem?: string } => {
    const mount = mounts.find((m) => m.fstype === 'cgroup' && m.controllers.includes(controller));
    const cgroupPath = own.get(controller);
    if (!mount || cgroupPath === undefined) return { problem: `no cgroup v1 ${controller} controller is mounted` };
    const base = path.join(ownDir(mount, cgroupPath), SUBTREE, scope);
    const problem = tryController(base, limitFile, value);
    if (problem) return { problem: `cannot make cgroups in ${problem}` };
    return { base };
  };
  const memory = usable('memory', 'memory.limit_in_bytes', String(1 << 30));
  const pids = usable('pids', 'pids.max', '1000');
  const cpuacct = usable('cpuacct', 'cpuacct.usage', '0'); // CPU time only: nothing is refused without it
  if (memory.problem) problems.memory = memory.problem;
  if (pids.problem) problems.pids = pids.problem;
  if (!memory.base && !pids.base) return { cgroups: null, problems: { ...problems, cgroups: problems.memory ?? 'no cgroup v1 controllers' } };
  return { cgroups: new CgroupsV1({ memory: memory.base, pids: pids.base, cpuacct: cpuacct.base }), problems };
}

/**
 * Finds out which cgroup v1 controllers this server can use for its runs. `scope` names this server's
 * runs apart from other servers' on the machine (it must be a safe directory name).
 */
export function probeCgroups(scope: string): CgroupProbe {
  let mounts: Mount[];
  let own: Map<string, string>;
  try {
    mounts = cgroupMounts();
    own = ownCgroups();
  } catch (e) {
    return { cgroups: null, problems: { cgroups: `cannot read this process's cgroups: ${(e as Error).message}` } };
  }
  if (mounts.some((m) => m.fstype === 'cgroup' && (m.controllers.includes('memory') || m.controllers.includes('pids')))) return probeV1(mounts, own, scope);
  if (mounts.some((m) => m.fstype === 'cgroup2')) {
    const reason = 'only cgroup v2 is mounted, which this version does not support yet; use a host with the cgroup v1 memory and pids controllers, or limit the whole service (a container limit)';
    return { cgroups: null, problems: { memory: reason, pids: reason, cgroups: reason } };
  }
  return { cgroups: null, problems: { cgroups: 'no cgroup hierarchy is mounted' } };
}
