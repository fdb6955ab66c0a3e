/**
 * bubblewrap's command line for a run: its sandbox (what the tool sees of the file system and the
 * network) and its PID namespace, and the start-up check that bubblewrap can make them here.
 */
import path from 'node:path';
import type { SandboxSpec, SpawnSpec } from './executor';
import { probe } from './probe';

/** The directories between an emptied directory (a tmpfs) and one mounted inside it, outermost first. */
function dirsBetween(hidden: string, dir: string): string[] {
  const between: string[] = [];
  for (let d = path.dirname(dir); d.startsWith(`${hidden}/`); d = path.dirname(d)) between.unshift(d);
  return between;
}

/** bubblewrap's arguments for a sandbox: what the tool sees of the file system and the network. */
export function sandboxArgs(sandbox: SandboxSpec): string[] {
  // In this order: what is readable under /tmp comes back first, then the server's data is hidden
  // (even where it lies inside something readable), then the run's own directories are made writable.
  // Paths must be real (no symbolic links on the way): bubblewrap mounts onto them inside the new root.
  // The kernel's settings stay read-only even for a root tool (whose ownership of them would do). /tmp
  // and /dev/shm are the run's own, open to whoever the tool runs as (sticky, as on any system).
  const kernel = ['--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys', '--ro-bind-try', '/proc/sysrq-trigger', '/proc/sysrq-trigger'];
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/dev/shm', ...kernel, '--perms', '1777', '--tmpfs', '/tmp'];
  // No network: a namespace with only loopback, and /run (where local services keep their Unix sockets) emptied.
  if (!sandbox.network) args.push('--unshare-net', '--tmpfs', '/run');
  // The same for the directories on the way to a readable root under /tmp (bubblewrap makes them 0700).
  for (const dir of sandbox.readable) {
    for (const d of dirsBetween('/tmp', dir)) args.push('--perms', '0755', '--dir', d);
    args.push('--ro-bind-try', dir, dir);
  }
  for (const dir of sandbox.hiddenDirs) args.push('--tmpfs', dir);
  for (const file of sandbox.hiddenFiles) args.push('--ro-bind', '/dev/null', file);
  for (const dir of sandbox.writable) {
    // bubblewrap would make the directories on the way root's alone: a tool run as RUN_AS_USER must pass them.
    const between = new Set(sandbox.hiddenDirs.flatMap((hidden) => dirsBetween(hidden, dir)));
    for (const d of between) args.push('--perms', '0755', '--dir', d);
    args.push('--bind', dir, dir);
  }
  return [...args, '--unshare-ipc', '--new-session', '--cap-drop', 'ALL'];
}

/** bubblewrap's whole command line for a run: its sandbox and PID namespace, then the tool (as `switchUser` makes it). */
export function bubblewrapArgs(spec: Pick<SpawnSpec, 'sandbox' | 'argv'> & { cwd?: string }, switchUser: string[]): string[] {
  // setpriv needs CAP_SETUID and CAP_SETGID to switch users, and gives them up as it does.
  const caps = switchUser.length ? ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID'] : [];
  const chdir = spec.cwd === undefined ? [] : ['--chdir', spec.cwd];
  return [...sandboxArgs(spec.sandbox), ...caps, '--unshare-pid', '--die-with-parent', ...chdir, '--', ...switchUser, ...spec.argv];
}

/** Null when bubblewrap can give a run a PID namespace and the sandbox here, as its user; else why not (in most containers it cannot). */
export function probeBubblewrap(switchUser: string[]): string | null {
  const sandbox = { network: false, writable: [], readable: [], hiddenDirs: [], hiddenFiles: [] };
  const problem = probe('bwrap', bubblewrapArgs({ sandbox, argv: ['true'] }, switchUser));
  if (!problem) return null;
  if (problem === 'bwrap is not installed') return 'bubblewrap is not installed (apt-get install bubblewrap)';
  return `bubblewrap cannot create a PID namespace and sandbox here (${problem}); in a container it needs extra privileges (see the README)`;
}
