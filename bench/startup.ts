/**
 * Start-up (issue 18, item 6): the server run from its TypeScript through tsx, as production ran it
 * before, against the same code built to JavaScript (dist/server), as `npm start` and the image run it
 * now. Each start is a new process on the shipped catalog with a fresh LOG_DIR (so a new SQLite
 * database), the variants taking turns; measured: from the spawn to its "listening on" line, then its
 * resident memory once it has been idle a while. tsx keeps a compile cache in the temporary directory,
 * so it is measured twice: with that cache warm (a restart on the same machine) and empty (a new
 * container with a fresh /tmp). Standalone: `node --import tsx bench/startup.ts [starts]`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { builtEntry, ROOT, tempDir } from '../server/test/harness';
import { median, type Row, type Sizes } from './cases';

interface Variant {
  name: string;
  argv: () => string[];
  /** A fresh temporary directory for each start: tsx's compile cache empty. */
  freshTmp?: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'tsx, compile cache warm', argv: () => ['--import', 'tsx', 'server/src/main.ts'] },
  { name: 'tsx, compile cache empty', argv: () => ['--import', 'tsx', 'server/src/main.ts'], freshTmp: true },
  { name: 'built', argv: () => [builtEntry('main')] },
];

interface Start {
  listeningMs: number;
  idleRss: number;
}

/** One start: the time to "listening on", and VmRSS after `idleMs` of doing nothing; then SIGTERM. */
async function startOnce(variant: Variant, idleMs: number): Promise<Start> {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: variant.freshTmp ? tempDir('oss-runner-tmp-') : process.env.TMPDIR,
    NODE_ENV: 'production',
    PORT: '0',
    LOG_DIR: tempDir(),
    ADMIN_API_KEY: `bench-admin-${randomBytes(12).toString('hex')}`,
  };
  const began = performance.now();
  const child = spawn(process.execPath, variant.argv(), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  const listeningMs = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) resolve(performance.now() - began);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then(() => reject(new Error(`the server (${variant.name}) exited before listening:\n${out}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const idleRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  child.kill('SIGTERM');
  await exited;
  return { listeningMs, idleRss };
}

/** `starts` starts of each variant, taking turns (after one discarded round that builds and warms the caches). */
export async function startup(sizes: Pick<Sizes, 'startups'>, idleMs = 3000): Promise<Row[]> {
  for (const v of VARIANTS) await startOnce(v, 0);
  const results = new Map<Variant, Start[]>(VARIANTS.map((v) => [v, []]));
  for (let i = 0; i < sizes.startups; i++) for (const v of VARIANTS) results.get(v)?.push(await startOnce(v, idleMs));
  const med = (v: Variant, key: keyof Start) => median((results.get(v) ?? []).map((r) => r[key]));
  const built = VARIANTS.at(-1) as Variant;
  const idle = `${idleMs / 1000} s`;
  return VARIANTS.slice(0, -1).flatMap((tsx) => [
    {
      case: `start-up to "listening on": built against ${tsx.name}`,
      baseline: `${med(tsx, 'listeningMs').toFixed(0)} ms`,
      measured: `${med(built, 'listeningMs').toFixed(0)} ms`,
      ratio: `${(med(built, 'listeningMs') / med(tsx, 'listeningMs')).toFixed(2)}x`,
      target: '< 1x',
      met: med(built, 'listeningMs') < med(tsx, 'listeningMs'),
      mismatches: 0,
    },
    {
      case: `memory (RSS) idle ${idle} after start: built against ${tsx.name}`,
      baseline: `${(med(tsx, 'idleRss') / 2 ** 20).toFixed(1)} MiB`,
      measured: `${(med(built, 'idleRss') / 2 ** 20).toFixed(1)} MiB`,
      ratio: `${(med(built, 'idleRss') / med(tsx, 'idleRss')).toFixed(2)}x`,
      target: '< 1x',
      met: med(built, 'idleRss') < med(tsx, 'idleRss'),
      mismatches: 0,
    },
  ]);
}

if (import.meta.filename === process.argv[1]) {
  const rows = await startup({ startups: Number(process.argv[2] ?? 7) });
  for (const r of rows) console.log(`| ${r.case} | ${r.baseline} | ${r.measured} | ${r.ratio} |`);
}
