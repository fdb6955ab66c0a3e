/**
 * Reads a V8 CPU profile (`node --cpu-prof`, as BENCH_CPU_PROF writes the bench server's) and prints
 * where the time went: busy against idle, the functions with the most self time and those with the
 * most time under them (each sample counted once per function on its stack), with their files.
 * `node --import tsx bench/profile.ts <file.cpuprofile> [top]`, or `--from=<s> --to=<s>` (seconds
 * from the profile's start) to read one part of it, such as a start storm, and `--callers=<text>`
 * for the stacks (6 frames up) that lead to the functions whose label holds that text, and
 * `--long=<ms>` for the stretches the event loop was busy without a pause for longer than that
 * (what a delay of the loop is made of), each with the functions that took most of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? NaN);
const [file, topArg] = args.filter((a) => !a.startsWith('--'));
if (!file) {
  console.error('usage: node --import tsx bench/profile.ts <file.cpuprofile> [top] [--from=s] [--to=s]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const from = flag('from');
const to = flag('to');
const callersOf = args.find((a) => a.startsWith('--callers='))?.slice('--callers='.length);
const longMs = flag('long');

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: Node) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? ` ${path.basename(url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
const stacks = new Map<string, number>();
/** Busy stretches: from the first busy sample after an idle one to the next idle one. */
const stretches: { at: number; us: number; self: Map<string, number> }[] = [];
let stretch: (typeof stretches)[number] | null = null;
const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
let t = 0;
let idle = 0;
let busy = 0;
// A sample's time is the delta to the next sample (V8 records the delta before it).
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  const us = profile.timeDeltas[i + 1] ?? 0;
  if ((!Number.isNaN(from) && t < from * 1e6) || (!Number.isNaN(to) && t > to * 1e6)) continue;
  const leaf = byId.get(profile.samples[i] ?? -1);
  if (!leaf) continue;
  if (leaf.callFrame.functionName === '(idle)') {
    idle += us;
    if (stretch) stretches.push(stretch);
    stretch = null;
    continue;
  }
  busy += us;
  add(self, label(leaf), us);
  stretch ??= { at: t, us: 0, self: new Map() };
  stretch.us += us;
  add(stretch.self, label(leaf), us);
  const seen = new Set<string>();
  for (let n: Node | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
    const k = label(n);
    if (seen.has(k) || k === '(root)') continue;
    seen.add(k);
    add(total, k, us);
  }
  if (callersOf && label(leaf).includes(callersOf)) {
    const frames: string[] = [];
    for (let n: Node | undefined = leaf; n && frames.length < 6; n = byId.get(parent.get(n.id) ?? -1)) frames.push(label(n));
    add(stacks, frames.join(' < '), us);
  }
}

const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`;
const table = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us).padStart(9)}  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`${file}: ${ms(t)} profiled, busy ${ms(busy)}, idle ${ms(idle)}${Number.isNaN(from) && Number.isNaN(to) ? '' : ` (from ${from || 0} s to ${to || 'the end'})`}`);
table('self time', self);
table('total time (the function and what it called)', total);
if (callersOf) table(`stacks to ${callersOf}`, stacks);
if (!Number.isNaN(longMs)) {
  const long = stretches.filter((x) => x.us >= longMs * 1000);
  console.log(`\nbusy without a pause for ${longMs} ms or more: ${long.length} times, ${ms(long.reduce((n, x) => n + x.us, 0))} in all`);
  for (const x of long.sort((a, b) => b.us - a.us).slice(0, top)) {
    const most = [...x.self].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, us]) => `${k} ${ms(us)}`);
    console.log(`${ms(x.us).padStart(9)}  at ${(x.at / 1e6).toFixed(2)} s: ${most.join(', ')}`);
  }
}
