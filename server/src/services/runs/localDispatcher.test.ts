import { describe, expect, it } from 'vitest';
import type { Run } from '../../../../shared/src/schemas/run';
import { DomainError } from '../../errors';
import { Catalog, type ToolEntry } from '../catalog';
import type { StopReason } from './activeRun';
import { LocalDispatcher, type RunLauncher } from './localDispatcher';
import { newRun } from './runService';

const tool = (name: string, extra: Partial<ToolEntry> = {}): ToolEntry => ({ name, description: name, cmd: ['true'], params: {}, artifacts: [], env: [], set_env: {}, run_as_root: false, allow_code_injection: false, ...extra });
const run = (id: string, name: string): Run => newRun({ run_id: id, name, cmd: ['true'], params: {}, requested_by: null });

/** Runs "go" until the test ends them: what a supervisor does with a process, without one. */
class Launcher implements RunLauncher {
  readonly launched: string[] = [];
  readonly stops: { runId: string; reason: StopReason }[] = [];
  shutdowns = 0;
  /** What a launch answers for a run: taken (default), not there to take, or a failure to take it. */
  readonly take = new Map<string, boolean | Error>();
  private readonly going = new Map<string, () => void>();
  private readonly ended = new Map<string, PromiseWithResolvers<Run>>();

  launch(runId: string, done: () => void): Promise<boolean> {
    this.launched.push(runId);
    const taken = this.take.get(runId) ?? true;
    if (taken instanceof Error) return Promise.reject(taken);
    if (taken) this.going.set(runId, done);
    return Promise.resolve(taken);
  }

  end(runId: string): void {
    const done = this.going.get(runId);
    if (!done) throw new Error(`${runId} is not going`);
    this.going.delete(runId);
    done();
    this.ended.get(runId)?.resolve({ ...run(runId, 'a'), status: 'stopped' });
  }

  /** As a process does, the run ends some time after it is asked to stop (when the test ends it). */
  stop(runId: string, reason: StopReason): Promise<Run> | undefined {
    if (!this.going.has(runId)) return undefined;
    this.stops.push({ runId, reason });
    const ended = Promise.withResolvers<Run>();
    this.ended.set(runId, ended);
    return ended.promise;
  }

  abandon(runId: string): boolean {
    return this.stop(runId, 'lost') !== undefined;
  }

  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
}

function setUp(maxConcurrentRuns: number, tools: ToolEntry[] = [tool('a'), tool('b'), tool('c'), tool('d')]) {
  const launcher = new Launcher();
  const recorded: string[] = [];
  const dispatcher = new LocalDispatcher(
    {
      launcher,
      catalog: new Catalog(tools, process.env.PATH ?? ''),
      recordStop: (r, by) => {
        recorded.push(r.run_id);
        return Promise.resolve({ ...r, status: 'stopped', stopped_by: by });
      },
    },
    { maxConcurrentRuns, logDir: '/nonexistent-log-dir' },
  );
  return { launcher, dispatcher, recorded };
}

describe('LocalDispatcher', () => {
  it('starts runs first in first out as slots free, MAX_CONCURRENT_RUNS at a time', async () => {
    const { launcher, dispatcher } = setUp(2);
    for (const id of ['1', '2', '3', '4']) await dispatcher.dispatch(run(id, 'a'));
    expect(launcher.launched).toEqual(['1', '2']);
    expect([dispatcher.runningCount, dispatcher.queuedCount]).toEqual([2, 2]);
    launcher.end('2');
    expect(launcher.launched).toEqual(['1', '2', '3']);
    launcher.end('1');
    expect(launcher.launched).toEqual(['1', '2', '3', '4']);
    expect([dispatcher.runningCount, dispatcher.queuedCount]).toEqual([2, 0]);
  });

  it("holds a tool at its own concurrency without holding back other tools' runs queued after it", async () => {
    const { launcher, dispatcher } = setUp(4, [tool('one', { concurrency: 1 }), tool('other')]);
    await dispatcher.dispatch(run('one-1', 'one'));
    await dispatcher.dispatch(run('one-2', 'one'));
    await dispatcher.dispatch(run('other-1', 'other'));
    expect(launcher.launched).toEqual(['one-1', 'other-1']);
    expect(dispatcher.held).toEqual(['one-2', 'one-1', 'other-1']);
    launcher.end('other-1');
    expect(launcher.launched).toEqual(['one-1', 'other-1']);
    launcher.end('one-1');
    expect(launcher.launched).toEqual(['one-1', 'other-1', 'one-2']);
  });

  it('lets one run at a time use a cache, whichever tool shares it', async () => {
    const { launcher, dispatcher } = setUp(4, [tool('grype', { cache: 'db' }), tool('trivy', { cache: 'db' }), tool('plain')]);
    await dispatcher.dispatch(run('g', 'grype'));
    await dispatcher.dispatch(run('t', 'trivy'));
    await dispatcher.dispatch(run('p', 'plain'));
    expect(launcher.launched).toEqual(['g', 'p']);
    launcher.end('g');
    expect(launcher.launched).toEqual(['g', 'p', 't']);
  });

  it('stops a queued run without ever launching it, and tells a worker\'s execute() it is over', async () => {
    const { launcher, dispatcher, recorded } = setUp(1);
    await dispatcher.dispatch(run('1', 'a'));
    const over = dispatcher.execute('2', 'a');
    const stopped = await dispatcher.stop(run('2', 'a'), 'alice');
    expect(stopped).toMatchObject({ run_id: '2', status: 'stopped', stopped_by: 'alice' });
    expect(recorded).toEqual(['2']);
    await expect(over).resolves.toBeUndefined();
    launcher.end('1');
    expect(launcher.launched).toEqual(['1']);
    expect(dispatcher.held).toEqual([]);
  });

  it('hands a stop of a run going here to its launcher, which frees the slot for the next', async () => {
    const { launcher, dispatcher, recorded } = setUp(1);
    await dispatcher.dispatch(run('1', 'a'));
    await dispatcher.dispatch(run('2', 'a'));
    const stopping = dispatcher.stop(run('1', 'a'), null);
    expect(launcher.stops).toEqual([{ runId: '1', reason: 'stopped' }]);
    expect(launcher.launched).toEqual(['1']);
    launcher.end('1');
    await expect(stopping).resolves.toMatchObject({ run_id: '1', status: 'stopped' });
    expect(recorded).toEqual([]);
    expect(launcher.launched).toEqual(['1', '2']);
  });

  it('frees the slot of a run that was not there to take; a failure to take one fails its start', async () => {
    const { launcher, dispatcher } = setUp(1);
    launcher.take.set('gone', false);
    launcher.take.set('broken', new Error('the database is away'));
    await dispatcher.dispatch(run('gone', 'a'));
    await expect(dispatcher.dispatch(run('broken', 'a'))).rejects.toThrow('the database is away');
    await dispatcher.dispatch(run('3', 'a'));
    expect(launcher.launched).toEqual(['gone', 'broken', '3']);
    expect(dispatcher.runningCount).toBe(1);
  });

  it("answers a worker's execute() once the run is over; a run delivered twice is the same run", async () => {
    const { launcher, dispatcher } = setUp(1);
    let over = false;
    const first = dispatcher.execute('1', 'a').then(() => (over = true));
    expect(dispatcher.execute('1', 'a')).toBe(dispatcher.execute('1', 'a'));
    await Promise.resolve();
    expect(over).toBe(false);
    launcher.end('1');
    await first;
    expect(launcher.launched).toEqual(['1']);
  });

  it('at shutdown takes no new run: queued ones stay queued (in the store), execute() callers are told, the launcher stops the rest', async () => {
    const { launcher, dispatcher } = setUp(1);
    await dispatcher.dispatch(run('1', 'a'));
    const queued = dispatcher.execute('2', 'a');
    await dispatcher.shutdown(0);
    await expect(queued).resolves.toBeUndefined();
    expect(launcher.shutdowns).toBe(1);
    launcher.end('1');
    expect(launcher.launched).toEqual(['1']);
    await expect(dispatcher.execute('3', 'a')).rejects.toThrow('shutting down');
  });

  it('ends the runs the fleet counted lost, queued or going', async () => {
    const { launcher, dispatcher } = setUp(1);
    await dispatcher.dispatch(run('1', 'a'));
    void dispatcher.execute('2', 'a');
    expect(dispatcher.abandon(['1', '2', 'unknown'])).toEqual(['1', '2']);
    expect(launcher.stops).toEqual([{ runId: '1', reason: 'lost' }]);
  });

  it('admits a start only for a tool that can run here', () => {
    const { dispatcher } = setUp(1, [tool('here'), tool('missing', { cmd: ['no-such-program-oss-runner'] })]);
    expect(dispatcher.admit(tool('here'), undefined)).toEqual({});
    const refused = (() => {
      try {
        dispatcher.admit(tool('missing', { cmd: ['no-such-program-oss-runner'] }), undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ kind: 'conflict' });
  });
});
