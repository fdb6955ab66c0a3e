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

/** The floor for the idle server (issue 19: under 60 MiB): a Node process serving HTTP and nothing else. */
const BARE_HTTP = "require('node:http').createServer((q, r) => r.end()).listen(0, () => console.log('listening on'))";

const VARIANTS: Variant[] = [
  { name: 'tsx, compile cache warm', argv: () => ['--import', 'tsx', 'server/src/main.ts'] },
  { name: 'tsx, compile cache empty', argv: () => ['--import', 'tsx', 'server/src/main.ts'], freshTmp: true },
  { name: 'a bare Node HTTP server', argv: () => ['-e', BARE_HTTP] },
  { name: 'built', argv: () => [builtEntry('main')] },
];

interface Start {
  listeningMs: number;
  /** Resident memory (VmRSS), and the part of it that is the process's own (RssAnon: not pages of files such as the node binary). */
  idleRss: number;
  idleAnon: number;
  /** The resident memory of its children: the server's spawn helper. */
  childrenRss: number;
}

const statusKiB = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

function childrenRss(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.reduce((sum, child) => sum + statusKiB(child, 'VmRSS'), 0);
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
  const pid = child.pid ?? 0;
  const idle = { idleRss: statusKiB(pid, 'VmRSS'), idleAnon: statusKiB(pid, 'RssAnon'), childrenRss: childrenRss(pid) };
  child.kill('SIGTERM');
  await exited;
  return { listeningMs, ...idle };
}

/** `starts` starts of each variant, taking turns (after one discarded round that builds and warms the caches). */
export async function startup(sizes: Pick<Sizes, 'startups'>, idleMs = 3000): Promise<Row[]> {
  for (const v of VARIANTS) await startOnce(v, 0);
  const results = new Map<Variant, Start[]>(VARIANTS.map((v) => [v, []]));
  for (let i = 0; i < sizes.startups; i++) for (const v of VARIANTS) results.get(v)?.push(await startOnce(v, idleMs));
  const med = (v: Variant, key: keyof Start) => median((results.get(v) ?? []).map((r) => r[key]));
  const [warm, empty, bare, built] = VARIANTS as [Variant, Variant, Variant, Variant];
  const idle = `${idleMs / 1000} s`;
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const idleTarget = 60 * 2 ** 20;
  const small: Row = {
    case: `idle server: resident memory ${idle} after start (built), and the part that is its own (RssAnon)`,
    baseline: `${mib(med(bare, 'idleRss'))}, own ${mib(med(bare, 'idleAnon'))} (a bare Node HTTP server)`,
    measured: `${mib(med(built, 'idleRss'))}, own ${mib(med(built, 'idleAnon'))}; its spawn helper ${mib(med(built, 'childrenRss'))}`,
    ratio: `${(med(built, 'idleRss') / med(bare, 'idleRss')).toFixed(2)}x the bare server`,
    target: '< 60 MiB',
    met: med(built, 'idleRss') < idleTarget,
    mismatches: 0,
  };
  const rows: Row[] = [warm, empty].flatMap((tsx) => [
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
  return [...rows, small];
}

if (import.meta.filename === process.argv[1]) {
  const rows = await startup({ startups: Number(process.argv[2] ?? 7) });
  for (const r of rows) console.log(`| ${r.case} | ${r.baseline} | ${r.measured} | ${r.ratio} |`);
}
