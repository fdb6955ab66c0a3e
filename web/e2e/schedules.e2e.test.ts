/**
 * Schedules in a real browser (Debian's Chromium through playwright-core) against the real server: an
 * admin creates one (a bad expression first, refused beside its field), sees its next fire times, follows
 * a run it started to the run page and back (the run names the schedule), and pauses it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScheduleList } from '../../shared/src/schemas/schedule';
import { api } from '../../server/test/harness';
import { browser, openPage, server, SHOTS, startBrowserAndServer } from './browser';

startBrowserAndServer();

const open = (route: string) => openPage(browser, server.url + route, { credential: server.adminKey });

const schedules = async () => (await api<ScheduleList>(server.url, 'GET', '/schedules')).body.items;

describe('schedules in the web app', () => {
  it('creates a schedule, shows its next fire times, links its runs both ways, and pauses it', async () => {
    const page = await open('/ui/');
    await page.getByRole('link', { name: 'Schedules' }).click();
    await page.waitForURL(/\/ui\/schedules$/);
    await page.getByText('No schedule yet.').waitFor();
    const form = page.getByRole('region', { name: 'New schedule' });
    await form.getByLabel('Tool').selectOption('hello');
    await form.getByLabel('Time zone').fill('UTC');

    await form.getByLabel('Cron expression').fill('61 * * * *');
    await form.getByText(/Invalid value for minute/).first().waitFor();
    await form.getByRole('button', { name: 'Create schedule' }).click();
    await form.getByText(/^cron: .*minute/).waitFor();
    expect(await schedules()).toEqual([]);

    await form.getByLabel('Cron expression').fill('* * * * * *');
    await form.getByText(/^Next: /).waitFor();
    await form.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.locator('tr[data-schedule-id]');
    await row.waitFor();
    const [made] = await schedules();
    expect(made).toMatchObject({ name: 'hello', cron: '* * * * * *', timezone: 'UTC', paused: false });
    expect(await row.getAttribute('data-schedule-id')).toBe(made?.schedule_id);

    // It fires every second: its last run is linked, and that run's page links back.
    await row.getByRole('link', { name: 'run' }).click({ timeout: 15_000 });
    await page.waitForURL(/\/ui\/runs\//);
    await page.locator('.run-details summary').click();
    const back = page.getByRole('link', { name: `schedule:${made?.schedule_id}` });
    await back.click();
    await page.waitForURL(/\/ui\/schedules#schedule-/);
    await page.screenshot({ path: path.join(SHOTS, '20-schedules.png') });

    await page.getByRole('button', { name: 'Pause the schedule of hello' }).click();
    await page.getByRole('button', { name: 'Resume the schedule of hello' }).waitFor();
    await row.getByText('paused').waitFor();
    expect((await schedules())[0]).toMatchObject({ paused: true, next_fire_times: [] });
    await page.context().close();
  });
});
