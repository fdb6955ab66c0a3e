/**
 * Schedules on a single server (SQLite): managed over REST and tRPC, refused with a 400 naming the
 * field, firing runs that name them (`requested_by: schedule:<id>`), the overlap rule, and a restart
 * inside and outside SCHEDULE_GRACE_S. Time is steered by choosing occurrences a few seconds away,
 * never by touching the server's clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey } from '../../shared/src/schemas/auth';
import type { ApiError } from '../../shared/src/schemas/error';
import type { Run, RunList } from '../../shared/src/schemas/run';
import type { Schedule, ScheduleEnvelope, ScheduleList } from '../../shared/src/schemas/schedule';
import { api, startServer, tempDir, trpcClient, waitFor, writeCatalog, type TestServer } from './harness';

const CATALOG = `tools:
  - name: hello
    cmd: ["echo", "hello"]
  - name: counted
    cmd: ["echo", "{{count}}"]
    params:
      count: { type: integer, min: 1, max: 10, required: true }
  - name: slow
    cmd: ["sleep", "{{seconds}}"]
    params:
      seconds: { type: integer, min: 1, max: 30, default: 3 }
`;
const catalogFile = writeCatalog(tempDir(), CATALOG);

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ catalogFile });
});
afterAll(() => server?.stop());

type Answer = ScheduleEnvelope & ApiError;
const create = (base: string, body: unknown, headers: Record<string, string> = {}) => api<Answer>(base, 'POST', '/schedules', body, headers);
const getSchedule = async (base: string, id: string): Promise<Schedule> => (await api<ScheduleEnvelope>(base, 'GET', `/schedules/${id}`)).body.schedule;
const remove = (base: string, id: string) => api(base, 'DELETE', `/schedules/${id}`);
/** The runs a schedule started, oldest first. */
async function runsOf(base: string, id: string): Promise<Run[]> {
  const { body } = await api<RunList>(base, 'GET', '/runs?limit=500');
  return body.items.filter((r) => r.requested_by === `schedule:${id}`).reverse();
}
const ended = (run: Run) => !['queued', 'running'].includes(run.status);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A six-field expression firing at each of the given instants (whole seconds, under a minute away),
 * read in UTC: its seconds listed, every minute (a test is over long before the minute comes round).
 */
function firingAt(...at: number[]): string {
  return `${[...new Set(at.map((t) => new Date(t).getUTCSeconds()))].join(',')} * * * * *`;
}
/** The next whole second at least `ms` from now. */
const secondsAway = (ms: number) => Math.ceil((Date.now() + ms) / 1000) * 1000;

describe('managing schedules over REST and tRPC', () => {
  it('creates, lists, changes, pauses, resumes and deletes, showing the next fire times', async () => {
    const made = await create(server.url, { name: 'counted', params: { count: 3 }, cron: '0 9 * * 1-5', timezone: 'Europe/Paris' });
    expect(made.status).toBe(200);
    const s = made.body.schedule;
    expect(s).toMatchObject({ name: 'counted', params: { count: 3 }, cron: '0 9 * * 1-5', timezone: 'Europe/Paris', overlap: 'skip', paused: false, last_result: null });
    expect(s.next_fire_times).toHaveLength(5);
    for (const t of s.next_fire_times) {
      expect(Date.parse(t)).toBeGreaterThan(Date.now());
      // 09:00 in Paris is 07:00 or 08:00 UTC, on a weekday.
      const d = new Date(t);
      expect([7, 8]).toContain(d.getUTCHours());
      expect([1, 2, 3, 4, 5]).toContain(d.getUTCDay());
    }

    const listed = await api<ScheduleList>(server.url, 'GET', '/schedules');
    expect(listed.body.items.map((i) => i.schedule_id)).toContain(s.schedule_id);

    const changed = await api<Answer>(server.url, 'PATCH', `/schedules/${s.schedule_id}`, { cron: '*/15 * * * *', timezone: 'UTC', overlap: 'queue' });
    expect(changed.status).toBe(200);
    expect(changed.body.schedule).toMatchObject({ cron: '*/15 * * * *', timezone: 'UTC', overlap: 'queue', params: { count: 3 } });
    expect(changed.body.schedule.next_fire_times.map((t) => new Date(t).getUTCMinutes() % 15)).toEqual([0, 0, 0, 0, 0]);

    const paused = await api<Answer>(server.url, 'POST', `/schedules/${s.schedule_id}/pause`);
    expect(paused.body.schedule).toMatchObject({ paused: true, next_fire_times: [] });
    const resumed = await api<Answer>(server.url, 'POST', `/schedules/${s.schedule_id}/resume`);
    expect(resumed.body.schedule.paused).toBe(false);
    expect(resumed.body.schedule.next_fire_times).toHaveLength(5);

    // The same over tRPC, as the web app calls it.
    const trpc = trpcClient(server.url);
    try {
      expect((await trpc.client.schedules.get.query({ schedule_id: s.schedule_id })).schedule.overlap).toBe('queue');
      expect((await trpc.client.schedules.preview.query({ cron: '30 4 1 * *', timezone: 'UTC' })).next_fire_times[0]).toMatch(/-01T04:30:00\.000Z$/);
      await trpc.client.schedules.pause.mutate({ schedule_id: s.schedule_id });
    } finally {
      await trpc.close();
    }
    expect((await getSchedule(server.url, s.schedule_id)).paused).toBe(true);

    expect((await remove(server.url, s.schedule_id)).status).toBe(200);
    expect((await api(server.url, 'GET', `/schedules/${s.schedule_id}`)).status).toBe(404);
    expect((await remove(server.url, s.schedule_id)).status).toBe(404);
  });

  it('refuses a bad expression, time zone or parameters with a 400 naming each, checked like a start', async () => {
    const cron = await create(server.url, { name: 'hello', cron: '61 * * * *' });
    expect(cron.status).toBe(400);
    expect(cron.body.message).toMatch(/^cron: .*minute/);
    expect(cron.body.issues).toEqual([{ path: 'cron', message: expect.any(String) as string }]);

    const never = await create(server.url, { name: 'hello', cron: '0 0 30 2 *' });
    expect(never.status).toBe(400);
    expect(never.body.message).toMatch(/^cron: .*never fires/);

    const zone = await create(server.url, { name: 'hello', cron: '* * * * *', timezone: 'Mars/Olympus' });
    expect(zone.status).toBe(400);
    expect(zone.body.message).toMatch(/^timezone: /);

    // The parameters are refused as POST /set/counted refuses them, with the expression's fault beside them.
    const start = await api<ApiError>(server.url, 'POST', '/set/counted', { params: { count: 11, extra: 1 } });
    const both = await create(server.url, { name: 'counted', params: { count: 11, extra: 1 }, cron: 'nonsense' });
    expect(both.status).toBe(400);
    expect(both.body.issues?.map((i) => i.path)).toEqual([...(start.body.issues ?? []).map((i) => i.path), 'cron']);
    expect(both.body.issues?.map((i) => i.path)).toEqual(['params.count', 'params.extra', 'cron']);

    expect((await create(server.url, { name: 'counted', cron: '* * * * *' })).body.message).toMatch(/^params\.count: /);
    const unknown = await create(server.url, { name: 'nope', cron: '* * * * *' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/^name: unknown tool/);
    expect((await create(server.url, { name: 'hello', cron: '* * * * *', overlap: 'sometimes' })).body.message).toMatch(/overlap/);

    const made = await create(server.url, { name: 'counted', params: { count: 1 }, cron: '0 0 * * *', paused: true });
    const patched = await api<ApiError>(server.url, 'PATCH', `/schedules/${made.body.schedule.schedule_id}`, { params: { count: 0 } });
    expect(patched.status).toBe(400);
    expect(patched.body.message).toMatch(/^params\.count: /);
    expect((await getSchedule(server.url, made.body.schedule.schedule_id)).params).toEqual({ count: 1 });
    await remove(server.url, made.body.schedule.schedule_id);
  });

  it('lets viewers read, and only admins manage unless SCHEDULES_ROLE=operator', async () => {
    const key = async (role: string) => (await api<CreatedApiKey>(server.url, 'POST', '/api-keys', { name: `k-${role}`, role })).body.key;
    const viewer = { authorization: `Bearer ${await key('viewer')}` };
    const operator = { authorization: `Bearer ${await key('operator')}` };
    expect((await api(server.url, 'GET', '/schedules', undefined, viewer)).status).toBe(200);
    expect((await create(server.url, { name: 'hello', cron: '0 0 * * *' }, viewer)).status).toBe(403);
    const refused = await create(server.url, { name: 'hello', cron: '0 0 * * *' }, operator);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/admin role/);

    const lenient = await startServer({ catalogFile, env: { SCHEDULES_ROLE: 'operator' } });
    try {
      const opKey = (await api<CreatedApiKey>(lenient.url, 'POST', '/api-keys', { name: 'op', role: 'operator' })).body.key;
      const made = await create(lenient.url, { name: 'hello', cron: '0 0 * * *' }, { authorization: `Bearer ${opKey}` });
      expect(made.status).toBe(200);
      expect(made.body.schedule.created_by).toMatch(/^key:/);
    } finally {
      await lenient.stop();
    }
  });
});

describe('firing', () => {
  it('starts a run at each occurrence, which names the schedule', async () => {
    const { body } = await create(server.url, { name: 'hello', cron: '* * * * * *' });
    const id = body.schedule.schedule_id;
    const runs = await waitFor('three scheduled runs', async () => {
      const found = await runsOf(server.url, id);
      return found.length >= 3 ? found : undefined;
    });
    await remove(server.url, id);
    for (const run of runs) expect(run).toMatchObject({ name: 'hello', requested_by: `schedule:${id}` });
    // One run per occurrence: each in a second of its own.
    const seconds = runs.map((r) => r.created_at.slice(0, 19));
    expect(new Set(seconds).size).toBe(seconds.length);
  });

  it('records the last run on the schedule', async () => {
    const at = secondsAway(2000);
    const { body } = await create(server.url, { name: 'hello', cron: firingAt(at) });
    const id = body.schedule.schedule_id;
    const s = await waitFor('the occurrence to fire', async () => {
      const got = await getSchedule(server.url, id);
      return got.last_result ? got : undefined;
    });
    await remove(server.url, id);
    expect(s).toMatchObject({ last_result: 'started', last_fired_at: new Date(at).toISOString(), last_error: null });
    const runs = await runsOf(server.url, id);
    expect(runs.map((r) => r.run_id)).toEqual([s.last_run_id]);
  });

  it('skips an occurrence while the previous run goes on (overlap: skip)', async () => {
    const first = secondsAway(2000);
    const { body } = await create(server.url, { name: 'slow', params: { seconds: 3 }, cron: firingAt(first, first + 1000), overlap: 'skip' });
    const id = body.schedule.schedule_id;
    await sleep(first + 1000 - Date.now() + 1500);
    const s = await getSchedule(server.url, id);
    expect(s).toMatchObject({ last_result: 'skipped', last_fired_at: new Date(first + 1000).toISOString() });
    await sleep(3000);
    await remove(server.url, id);
    const runs = await runsOf(server.url, id);
    expect(runs).toHaveLength(1);
  });

  it('starts a queued occurrence once the previous run has ended (overlap: queue)', async () => {
    const first = secondsAway(2000);
    const { body } = await create(server.url, { name: 'slow', params: { seconds: 2 }, cron: firingAt(first, first + 1000), overlap: 'queue' });
    const id = body.schedule.schedule_id;
    await sleep(first + 1000 - Date.now() + 500);
    expect(await getSchedule(server.url, id)).toMatchObject({ last_result: 'queued', pending_at: new Date(first + 1000).toISOString() });
    const runs = await waitFor('both runs to end', async () => {
      const found = await runsOf(server.url, id);
      return found.length === 2 && found.every(ended) ? found : undefined;
    });
    await remove(server.url, id);
    const [a, b] = runs as [Run, Run];
    // One after the other, never together.
    expect(Date.parse(b.started_at ?? '')).toBeGreaterThanOrEqual(Date.parse(a.finished_at ?? ''));
    expect(Date.parse(b.started_at ?? '') - Date.parse(a.finished_at ?? '')).toBeLessThan(2500);
  });
});

describe('a restart', () => {
  /** A server of its own, stopped before the occurrences at `at`, started again `backAfterMs` past the last of them. */
  async function downAcross(graceS: number, backAfterMs: number) {
    const logDir = tempDir();
    const first = await startServer({ catalogFile, logDir });
    const at = secondsAway(4000);
    const occurrences = [at, at + 1000, at + 2000];
    const made = await create(first.url, { name: 'hello', cron: firingAt(...occurrences) });
    await first.stop();
    expect(Date.now()).toBeLessThan(at);
    await sleep(at + 2000 + backAfterMs - Date.now());
    const again = await startServer({ catalogFile, logDir, env: { SCHEDULE_GRACE_S: String(graceS) } });
    return { server: again, id: made.body.schedule.schedule_id, last: new Date(at + 2000).toISOString() };
  }

  it('inside the grace period runs the latest missed occurrence, once (no burst)', async () => {
    const { server: back, id, last } = await downAcross(60, 500);
    try {
      const s = await waitFor('the missed occurrence to run', async () => {
        const got = await getSchedule(back.url, id);
        return got.last_result ? got : undefined;
      });
      expect(s).toMatchObject({ last_result: 'started', last_fired_at: last });
      await sleep(2000);
      const runs = await runsOf(back.url, id);
      expect(runs.map((r) => r.run_id)).toEqual([s.last_run_id]);
    } finally {
      await back.stop();
    }
  });

  it('outside the grace period records the occurrence as missed and runs nothing', async () => {
    const { server: back, id, last } = await downAcross(1, 1500);
    try {
      const s = await waitFor('the occurrence to be found missed', async () => {
        const got = await getSchedule(back.url, id);
        return got.last_result ? got : undefined;
      });
      expect(s).toMatchObject({ last_result: 'missed', last_fired_at: last, last_run_id: null });
      expect(s.last_error).toMatch(/SCHEDULE_GRACE_S/);
      expect(back.output()).toMatch(/past SCHEDULE_GRACE_S/);
      await sleep(1500);
      expect(await runsOf(back.url, id)).toEqual([]);
    } finally {
      await back.stop();
    }
  });
});
