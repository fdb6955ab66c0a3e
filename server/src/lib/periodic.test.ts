import { describe, expect, it } from 'vitest';
import { Periodic } from './periodic';

describe('Periodic', () => {
  it('runs one at a time (a run asked meanwhile gets the one going), every interval, and stops', async () => {
    let runs = 0;
    let release = () => {};
    const task = () => new Promise<number>((resolve) => (release = () => resolve(++runs)));
    const errors: unknown[] = [];
    const periodic = new Periodic(task, { intervalMs: 20, onError: (e) => errors.push(e) });
    const first = periodic.run();
    const same = periodic.run();
    release();
    expect(await first).toBe(1);
    expect(await same).toBe(1);
    periodic.start();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 30));
      release();
    }
    await periodic.stop();
    const stoppedAt = runs;
    await new Promise((r) => setTimeout(r, 60));
    release();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThanOrEqual(stoppedAt + 1);
    expect(errors).toEqual([]);
  });

  it('tells a failure and runs again at the next interval', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    const periodic = new Periodic(() => (++calls === 1 ? Promise.reject(new Error('no database')) : Promise.resolve(calls)), { intervalMs: 10, onError: (e) => errors.push(e) });
    periodic.start();
    await new Promise((r) => setTimeout(r, 50));
    await periodic.stop();
    expect(errors.map((e) => (e as Error).message)).toEqual(['no database']);
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
