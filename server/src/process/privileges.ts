/**
 * Who tools run as, decided once at start-up: a server that runs as root runs them as RUN_AS_USER
 * through setpriv(1), as the last step before the tool starts; and how that keeps them from the
 * server's privileges, in the four ways /health reports.
 */
import type { Capabilities } from '../../../shared/src/schemas/health';
import type { Isolation, ToolUser } from './executor';
import { probe, systemProgram } from './probe';

/** Who tools run as, decided once at start-up. */
export interface Identity {
  /** The user tools run as in place of a server that runs as root; null when they run as the server's own user. */
  runAs: ToolUser | null;
  /** setpriv and its arguments that run the rest of a command line as runAs; [] without runAs. */
  switchUser: string[];
  /** setpriv and its arguments for no_new_privs alone; [] where setpriv is missing. */
  noNewPrivs: string[];
  /** Why only entries marked run_as_root can run here (a root server that cannot switch users); null when all can. */
  refusal: string | null;
}

/**
 * Who tools run as here: a server that runs as root runs them as `wanted` (RUN_AS_USER), with no
 * other groups, no inheritable capabilities and no_new_privs; any other server as itself.
 */
export function probeIdentity(wanted: ToolUser): Identity {
  const setpriv = systemProgram('setpriv');
  const noNewPrivs = setpriv && !probe(setpriv, ['--no-new-privs', '--', 'true']) ? [setpriv, '--no-new-privs', '--'] : [];
  if (process.getuid?.() !== 0) return { runAs: null, switchUser: [], noNewPrivs, refusal: null };
  const args = [`--reuid=${wanted.uid}`, `--regid=${wanted.gid}`, '--clear-groups', '--inh-caps=-all', '--no-new-privs', '--'];
  const problem = setpriv ? probe(setpriv, [...args, 'true']) : 'setpriv (util-linux) is not installed';
  if (setpriv && !problem) return { runAs: wanted, switchUser: [setpriv, ...args], noNewPrivs, refusal: null };
  const refusal = `the server runs as root and cannot run tools as RUN_AS_USER ${wanted.uid}:${wanted.gid} (${problem}), so only entries marked run_as_root can run`;
  return { runAs: null, switchUser: [], noNewPrivs, refusal };
}

const yes = (how: string) => ({ enforced: true, how }) as const;
const no = (reason: string) => ({ enforced: false, reason }) as const;

/** How tools are kept from the server's privileges here, in the four ways /health reports. */
export function privilegeCapabilities(isolation: Isolation, id: Identity): Pick<Capabilities, 'unprivileged' | 'no_new_privs' | 'kernel_read_only' | 'server_protected'> {
  const user = id.runAs ? `RUN_AS_USER (uid ${id.runAs.uid}, gid ${id.runAs.gid})` : `the server's own user (uid ${process.getuid?.() ?? '?'})`;
  const unprivileged = id.refusal
    ? no(id.refusal)
    : yes(id.runAs ? `tools run as ${user} with no other groups (setpriv); entries marked run_as_root keep root` : `tools run as ${user}, which is not root, so RUN_AS_USER is not needed`);
  if (isolation === 'pid-namespace') {
    return {
      unprivileged,
      no_new_privs: yes('set by bubblewrap'),
      kernel_read_only: yes('bubblewrap: /proc/sys and /sys are mounted read-only, for entries marked run_as_root too'),
      server_protected: yes("the server is outside the run's PID namespace: a tool cannot see it"),
    };
  }
  // Without a sandbox, only being another user than root, and than the server, keeps a tool from them.
  const notRoot = `tools run as ${user}, not root${id.runAs ? ' (entries marked run_as_root apart)' : ''}`;
  return {
    unprivileged,
    no_new_privs: id.noNewPrivs.length ? yes('set by setpriv') : no("setpriv (util-linux) is missing: a set-user-ID program could raise a tool's privileges"),
    kernel_read_only: id.refusal ? no(id.refusal) : yes(`${notRoot}: /proc/sys and /sys belong to root`),
    server_protected: id.runAs
      ? yes(`${notRoot}: signals, ptrace and /proc/<pid> reads of the server are refused`)
      : no(id.refusal ?? `tools run as ${user} in process groups: they can signal the server and read its /proc/<pid>/environ (give it bubblewrap, or run it as root so that tools run as RUN_AS_USER)`),
  };
}
