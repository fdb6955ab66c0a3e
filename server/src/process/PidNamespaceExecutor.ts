/**
 * Each run in its own PID namespace and sandbox under bubblewrap: nothing escapes it (setsid and
 * double forks included), and the namespace dies with its main process and with the server
 * (--die-with-parent), so a crash leaves nothing behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BaseExecutor, type Command, type ExecutorParts } from './BaseExecutor';
import type { SpawnSpec } from './executor';
import { childPids, pidNamespace, pidsInNamespace, signal } from './procfs';
import { bubblewrapArgs } from './sandbox';
import type { HelperChild } from './SpawnHelper';

/** How long a SIGTERM waits for bubblewrap to have started the tool in its namespace. */
const NAMESPACE_WAIT_MS = 1000;

/** Each run in its own PID namespace and sandbox under bubblewrap: nothing escapes it, nothing outlives it. */
export class PidNamespaceExecutor extends BaseExecutor {
  readonly isolation = 'pid-namespace';

  private readonly bwrap: string;

  /** `bwrap`: bubblewrap's program. */
  constructor({ bwrap, ...parts }: ExecutorParts & { bwrap: string }) {
    super(parts);
    this.bwrap = bwrap;
  }

  protected command(spec: SpawnSpec): Command {
    return { file: this.bwrap, args: bubblewrapArgs(spec, this.switchUser(spec)), detached: false };
  }

  protected async signalAll(child: HelperChild, sig: NodeJS.Signals) {
    if (child.exited) return;
    if (sig === 'SIGKILL') return child.kill('SIGKILL'); // bwrap's namespace init follows it, and the kernel kills the rest
    // A stop can come before bubblewrap has set up the namespace and started the tool in it: wait for
    // the tool (a moment at most) rather than signal nobody and fall through to SIGKILL.
    for (let waited = 0; waited <= NAMESPACE_WAIT_MS && !child.exited; waited += 10) {
      const init = childPids(child.pid)[0];
      const ns = init === undefined ? null : pidNamespace(init);
      const members = ns ? pidsInNamespace(ns).filter((pid) => pid !== init) : [];
      if (members.length) {
        // Everyone but the namespace's init: its death would SIGKILL the rest without their grace.
        for (const pid of members) signal(pid, sig);
        return;
      }
      await sleep(10);
    }
  }
}
