/**
 * Where the time goes when a live million-line run's page opens in Chromium (the `view` case's live
 * figure, bench/browser.ts, taken apart): `node --import tsx bench/timeline.ts [runs]`, with the web app
 * built (`npx vite build`). For each run, in ms from the navigation's start (the page's clock): the
 * page's load, every request of the app (tRPC, log ranges) with when it was sent, answered and done,
 * when the run started and finished on the server, marks in the page (the app's first render, the run
 * page, the WebSocket's connection and its first events, the first log line, the first numbered one,
 * the last one), and the CPU time of the browser's processes and the server meanwhile (from /proc).
 * `COLD=1`: no earlier visit (the credential stored, never accepted by the server in that browser).
 * `PROFILE=<prefix>`: writes the page's main thread's CPU profile (`<prefix>-<n>.cpuprofile`).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { RunEnvelope } from '../shared/src/schemas/run';
import { api, procStat } from '../server/test/harness';
import { FULL, startBenchServer } from './cases';

const runs = Number(process.argv[2] ?? 3);
/** CPU ms of this process's descendants (the browser's processes), by name, from /proc. */
const threads = new Map<string, number>();
function treeCpu(): Record<string, number> {
  const procs = new Map<number, { ppid: number; comm: string; ms: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = procStat(`/proc/${d}/stat`);
      const comm = stat.comm === 'chromium' ? (/--type=([\w-]+)/.exec(readFileSync(`/proc/${d}/cmdline`, 'utf8'))?.[1] ?? 'browser') : stat.comm;
      procs.set(Number(d), { ppid: stat.ppid, comm, ms: stat.cpuMs });
      if (process.env.THREADS && comm === 'renderer')
        for (const t of readdirSync(`/proc/${d}/task`)) {
          const thread = procStat(`/proc/${d}/task/${t}/stat`);
          const key = `${d}/${thread.comm}`;
          threads.set(key, (threads.get(key) ?? 0) + thread.cpuMs);
        }
    } catch {
      // Gone meanwhile.
    }
  }
  const out: Record<string, number> = {};
  for (const [pid, p] of procs) {
    let q = p.ppid;
    while (q > 1 && q !== process.pid) q = procs.get(q)?.ppid ?? 0;
    if (q === process.pid && pid !== process.pid) out[p.comm] = (out[p.comm] ?? 0) + p.ms;
  }
  return out;
}
const diff = (a: Record<string, number>, b: Record<string, number>) => Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)] as const).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ');
const server = await startBenchServer(FULL);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
const start = async (name: string) => (await api<RunEnvelope>(server.url, 'POST', `/set/${name}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;

const init = (credential: string) => `
  localStorage.setItem('oss-runner.credential', ${JSON.stringify(credential)});
  const marks = {};
  window.__marks = marks;
  const mark = (k) => (marks[k] ??= performance.now());
  const Ws = window.WebSocket;
  window.WebSocket = class extends Ws {
    constructor(url, p) {
      super(url, p);
      mark('ws.new');
      const send = this.send.bind(this);
      this.send = (d) => { if (String(d).includes('runs.logs')) mark('ws.sub'); return send(d); };
      this.addEventListener('open', () => mark('ws.open'));
      this.addEventListener('message', (e) => {
        mark('ws.msg1');
        if (typeof e.data === 'string' && e.data.includes('"type":"lines"')) mark('ws.lines1');
        if (typeof e.data === 'string' && e.data.includes('"end"')) mark('ws.end');
      });
    }
  };
  addEventListener('DOMContentLoaded', () => mark('dcl'));
  new MutationObserver(() => {
    if (document.querySelector('#root > *')) mark('app');
    if (document.querySelector('.run-page')) mark('runpage');
    if (document.querySelector('.log-lines .line')) mark('line1');
    if (document.querySelector('.log-lines .line[data-line]')) mark('numbered1');
    if (document.querySelector('.log-lines .line[data-line="1000000"]')) mark('last');
  }).observe(document, { subtree: true, childList: true, attributes: true });
`;

try {
  const hello = await start('hello');
  void hello;
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(init(server.adminKey));
    if (!process.env.COLD) {
      const before = await context.newPage();
      await before.goto(`${server.url}/ui/`);
      await before.locator('.session .role').waitFor();
      await (await context.newCDPSession(before)).send('Network.clearBrowserCache');
      await before.close();
    }
    const page = await context.newPage();
    // A new context's page opens a window of its own, which the browser draws for a second or so (in its own UI's renderer).
    await page.waitForTimeout(Number(process.env.SETTLE ?? 1500));
    const cdp = process.env.PROFILE ? await context.newCDPSession(page) : null;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
      await cdp.send('Profiler.start');
    }
    threads.clear();
    const cpu0 = treeCpu();
    const threads0 = new Map(threads);
    threads.clear();
    const t0 = performance.now();
    const postEpoch = Date.now();
    const run = await start('lines');
    const posted = performance.now() - t0;
    await page.goto(`${server.url}/ui/runs/${run.run_id}`);
    await page.locator('.log-lines .line[data-line="1000000"]').waitFor({ timeout: 120_000 });
    const total = performance.now() - t0;
    const cpu1 = treeCpu();
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(`${process.env.PROFILE}-${i + 1}.cpuprofile`, JSON.stringify(profile));
    }
    const data = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const res = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((r) => ({
        name: r.name.replace(location.origin, '').replace(/access_token=[^&]+/, 't').slice(0, 90),
        start: r.startTime,
        resp: r.responseStart,
        end: r.responseEnd,
        size: r.transferSize,
      }));
      return { origin: performance.timeOrigin, nav: { resp: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd }, res, marks: (window as unknown as { __marks: Record<string, number> }).__marks };
    });
    const f = (x: number) => x.toFixed(0).padStart(5);
    console.log(`\n#${i + 1}: POST ${posted.toFixed(0)} ms, total ${total.toFixed(0)} ms (POST to last line seen by playwright)`);
    console.log(`  nav: html ${f(data.nav.resp)} dcl ${f(data.nav.dcl)} load ${f(data.nav.load)}`);
    for (const r of data.res) console.log(`  ${f(r.start)} ${f(r.resp)} ${f(r.end)}  ${String(r.size).padStart(9)}  ${r.name}`);
    const done = (await api<RunEnvelope>(server.url, 'GET', `/runs/${run.run_id}`, undefined, { authorization: `Bearer ${server.adminKey}` })).body.run;
    console.log(`  run: POST at ${f(postEpoch - data.origin)}, started ${f(Date.parse(done.started_at ?? '') - data.origin)}, finished ${f(Date.parse(done.finished_at ?? '') - data.origin)}`);
    console.log('  cpu ms:', diff(cpu0, cpu1));
    if (process.env.THREADS)
      for (const pid of new Set([...threads.keys()].map((k) => k.split('/')[0])))
        console.log('  renderer', pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => /client-id|site|origin|lock|extension|utility|launch-time/.test(a)).join(' ').slice(0, 200));
    if (process.env.THREADS) console.log('  renderer threads:', [...threads].map(([k, v]) => [k, v - (threads0.get(k) ?? 0)] as const).filter(([, v]) => v >= 20).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' '));
    console.log('  marks:', Object.entries(data.marks).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' '));
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
