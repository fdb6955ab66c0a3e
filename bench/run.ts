/**
 * `npm run bench`: the streaming benchmark suite at full size, printed as a table. Every case runs
 * beside its baseline in the same invocation; compare ratios, not absolute times (the machine is
 * shared and noisy). See bench/README.md. `BENCH_SIZE=smoke` runs the small sizes.
 */
import os from 'node:os';
import { fleetStops, fleetThroughput, startBenchFleet } from './fleet';
import { bigOutput, FULL, latency, manyReaders, oneReader, paging, shortRuns, SMOKE, startBenchServer, tenReaders, type Row } from './cases';

const sizes = process.env.BENCH_SIZE === 'smoke' ? SMOKE : { ...FULL, repeat: Number(process.env.BENCH_REPEAT ?? FULL.repeat) };
const rows: Row[] = [];
const step = (name: string) => process.stderr.write(`… ${name}\n`);

const server = await startBenchServer(sizes);
try {
  step('one reader');
  const one = await oneReader(server, sizes);
  rows.push(...one.rows);
  step('10 readers');
  rows.push(await tenReaders(server, sizes, one));
  step(`${sizes.manyReaders} readers`);
  rows.push(await manyReaders(server, sizes.manyReaders, sizes.manyLines));
  step('latency');
  rows.push(await latency(server, sizes, 1));
  rows.push(await latency(server, sizes, sizes.latencyReaders));
  step('large output');
  rows.push(await bigOutput(server, sizes));
  step('short runs');
  rows.push(await shortRuns(server, sizes));
  step('fleet');
  const fleet = await startBenchFleet(sizes);
  try {
    rows.push(await fleetThroughput(fleet, sizes, one.sseMs));
    rows.push(await fleetStops(fleet, sizes.repeat * 10));
  } finally {
    await fleet.stop();
  }
} finally {
  await server.stop();
}
step('paging');
rows.push(await paging(sizes));

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nOSS Runner benchmark, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} x ${cpu}, Node ${process.version}, medians of ${sizes.repeat}\n`);
console.log('| case | baseline | measured | ratio | target | met | lost or repeated |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.baseline} | ${r.measured} | ${r.ratio} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : 'NO'} | ${r.mismatches} |`);
