/**
 * `npm run bench`: the streaming benchmark suite at full size, printed as a table. Every case runs
 * beside its baseline in the same invocation; compare ratios, not absolute times (the machine is
 * shared and noisy). See bench/README.md. `BENCH_SIZE=smoke` runs the small sizes; `BENCH_CASES=one,ten`
 * runs some of the cases (startup, spawn, one, ten, many, latency, big, short, seed, fleet, paging, view).
 */
import os from 'node:os';
import { logViewer } from './browser';
import { fleetStops, fleetThroughput, startBenchFleet } from './fleet';
import { seedPeer } from './peers';
import { spawnStalls } from './spawn';
import { startup } from './startup';
import { bigOutput, FULL, latency, manyReaders, oneReader, paging, shortRuns, SMOKE, startBenchServer, tenReaders, type OneReader, type Row } from './cases';

const sizes = process.env.BENCH_SIZE === 'smoke' ? SMOKE : { ...FULL, repeat: Number(process.env.BENCH_REPEAT ?? FULL.repeat) };
const CASES = ['startup', 'spawn', 'one', 'ten', 'many', 'latency', 'big', 'short', 'seed', 'fleet', 'paging', 'view'] as const;
const chosen = new Set((process.env.BENCH_CASES ?? CASES.join(',')).split(',').map((c) => c.trim()));
const unknown = [...chosen].filter((c) => !(CASES as readonly string[]).includes(c));
if (unknown.length) {
  console.error(`BENCH_CASES: unknown case ${unknown.join(', ')}; the cases are ${CASES.join(', ')}`);
  process.exit(2);
}
const wants = (c: (typeof CASES)[number]) => chosen.has(c);
const rows: Row[] = [];
const step = (name: string) => process.stderr.write(`… ${name}\n`);

// Before the bench server starts, so that the servers it starts have the machine to themselves.
if (wants('startup')) {
  step(`start-up, ${sizes.startups} starts of each`);
  rows.push(...(await startup(sizes, process.env.BENCH_SIZE === 'smoke' ? 200 : 3000)));
}
const server = await startBenchServer(sizes);
try {
  // First, while the server is idle: a start's time to its first line is measured on an idle server.
  if (wants('spawn')) {
    step(`event-loop delay during ${sizes.shortRuns} starts, and a start's first line`);
    rows.push(...(await spawnStalls(server, sizes)));
  }
  // The 10-reader and fleet cases compare with the one-reader case: it runs whenever they do.
  let one: OneReader | null = null;
  if (wants('one') || wants('ten') || wants('fleet')) {
    step('one reader');
    one = await oneReader(server, sizes);
    rows.push(...one.rows);
  }
  if (one && wants('ten')) {
    step('10 readers');
    rows.push(...(await tenReaders(server, sizes, one)));
  }
  if (wants('many')) {
    step(`${sizes.manyReaders} readers`);
    rows.push(await manyReaders(server, sizes.manyReaders, sizes.manyLines));
  }
  if (wants('latency')) {
    step('latency');
    rows.push(await latency(server, sizes, 1));
    rows.push(await latency(server, sizes, sizes.latencyReaders));
  }
  if (wants('big')) {
    step('large output');
    rows.push(await bigOutput(server, sizes));
  }
  if (wants('short')) {
    step('short runs');
    rows.push(await shortRuns(server, sizes));
  }
  if (wants('view')) {
    step('the log viewer in Chromium');
    rows.push(...(await logViewer(server, sizes)));
  }
  if (wants('seed')) {
    step("the seed's design (FastAPI) as a peer");
    rows.push(await seedPeer(server, sizes));
  }
  if (one && wants('fleet')) {
    step('fleet');
    const fleet = await startBenchFleet(sizes);
    try {
      rows.push(await fleetThroughput(fleet, sizes, one.sseMs));
      rows.push(await fleetStops(fleet, sizes.repeat * 10));
    } finally {
      await fleet.stop();
    }
  }
} finally {
  await server.stop();
}
if (wants('paging')) {
  step('paging');
  rows.push(await paging(sizes));
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nOSS Runner benchmark, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} x ${cpu}, Node ${process.version}, medians of ${sizes.repeat}\n`);
console.log('| case | baseline | measured | ratio | target | met | lost or repeated |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.baseline} | ${r.measured} | ${r.ratio} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : 'NO'} | ${r.mismatches} |`);
