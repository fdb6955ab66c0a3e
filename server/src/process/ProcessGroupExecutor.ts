/**
 * The fallback where bubblewrap is missing: each run in its own process group, which a process that
 * calls setsid escapes (/health says this mode is in force). No sandbox; setpriv alone keeps the
 * tool from the server's privileges.
 */
import { BaseExecutor, type Command } from './BaseExecutor';
import type { SpawnSpec } from './executor';
import type { HelperChild } from './SpawnHelper';

/** Fallback where bubblewrap is missing: the run's process group (setsid escapes it). */
export class ProcessGroupExecutor extends BaseExecutor {
  readonly isolation = 'process-group';

  protected command(spec: SpawnSpec): Command {
    // No bubblewrap to set no_new_privs here: setpriv does, whoever the tool runs as.
    const switchUser = this.switchUser(spec);
    const [file = '', ...args] = [...(switchUser.length ? switchUser : this.identity.noNewPrivs), ...spec.argv];
    return { file, args, detached: true };
  }

  protected signalAll(child: HelperChild, sig: NodeJS.Signals) {
    // Sent by the helper, which knows whether it has reaped the leader (then the group id may belong to someone else).
    child.kill(sig, true);
  }
}
