/**
 * Issue 19, item 5: the seed's own design as a peer. bench/peers/seed/app.py is the seed document's
 * FastAPI service (asyncio subprocess, one SSE event per line), written from its description; it is
 * installed from PyPI into a virtual environment kept in the project's cache outside the checkout
 * (`$OSS_RUNNER_CACHE`, else /var/cache/oss-runner as root and ~/.cache/oss-runner otherwise, as
 * .ci/node.sh does), one per content of its requirements.txt, and started on a free port. The case
 * runs the million-line tool through it and through OSS Runner, taking turns, read by `curl -sN`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunEnvelope } from '../shared/src/schemas/run';
import { api, freePort, tempDir, type TestServer } from '../server/test/harness';
import { LINE, median, s, type Row, type Sizes } from './cases';
import { curlReader } from './readers';

const PEER_DIR = path.join(import.meta.dirname, 'peers/seed');

function cacheDir(): string {
  if (process.env.OSS_RUNNER_CACHE) return process.env.OSS_RUNNER_CACHE;
  return process.getuid?.() === 0 ? '/var/cache/oss-runner' : path.join(os.homedir(), '.cache/oss-runner');
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')} exited ${code}`))));
  });
}

/** The peer's virtual environment, made and filled from PyPI the first time (marked complete only once pip succeeded). */
export async function seedPeerVenv(): Promise<string> {
  const requirements = path.join(PEER_DIR, 'requirements.txt');
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const dir = path.join(cacheDir(), `bench-seed-peer-${hash}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  process.stderr.write(`… installing the seed peer's packages from PyPI into ${dir}\n`);
  rmSync(dir, { recursive: true, force: true });
  await run(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-m', 'venv', dir]);
  await run(path.join(dir, 'bin/pip'), ['install', '--disable-pip-version-check', '--no-input', '--progress-bar=off', '-q', '-r', requirements]);
  writeFileSync(path.join(dir, '.complete'), '');
  return dir;
}

export interface Peer {
  url: string;
  /** Sent by the readers, ignored by the peer (the seed had no credentials). */
  adminKey: string;
  stop(): Promise<void>;
}

/** Starts the seed peer (uvicorn, one worker, as its run.sh would) with the bench's `lines` tool. */
export async function startSeedPeer(sizes: Sizes): Promise<Peer> {
  const venv = await seedPeerVenv();
  const port = await freePort();
  const catalog = { lines: ['seq', '-f', '%080.0f', '1', String(sizes.lines)] };
  const child: ChildProcess = spawn(path.join(venv, 'bin/uvicorn'), ['app:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', '--no-access-log'], {
    cwd: PEER_DIR,
    env: { PATH: process.env.PATH, LOG_DIR: tempDir('bench-seed-peer-'), PEER_CATALOG: JSON.stringify(catalog), PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`the seed peer exited (${child.exitCode}) before answering`);
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (waited > 30_000) throw new Error('the seed peer did not answer within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    adminKey: 'none',
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The million-line tool read by `curl -sN` through OSS Runner and through the seed peer, taking turns. */
export async function seedPeer(server: TestServer, sizes: Sizes): Promise<Row> {
  const peer = await startSeedPeer(sizes);
  const ours: number[] = [];
  const theirs: number[] = [];
  let mismatches = 0;
  const timed = async (target: Pick<TestServer, 'url' | 'adminKey'>, into: number[]) => {
    const t0 = performance.now();
    const { run_id } = (await api<RunEnvelope>(target.url, 'POST', '/set/lines', undefined, { authorization: `Bearer ${target.adminKey}` })).body.run;
    const reader = curlReader(target, run_id, LINE);
    into.push((await reader.done) - t0);
    const r = await reader.check();
    mismatches += r.mismatches + Math.abs(r.lines - sizes.lines);
  };
  try {
    for (let i = 0; i < sizes.repeat; i++) {
      await timed(server, ours);
      await timed(peer, theirs);
    }
  } finally {
    await peer.stop();
  }
  const o = median(ours);
  const t = median(theirs);
  return {
    case: `${sizes.lines.toLocaleString('en')} lines, 1 reader (curl -N): OSS Runner against the seed's design (FastAPI, bench/peers/seed)`,
    baseline: `${s(t)} (the seed's design)`,
    measured: `${s(o)}`,
    ratio: `${(t / o).toFixed(1)}x faster`,
    target: 'faster than the seed',
    met: o < t,
    mismatches,
  };
}
