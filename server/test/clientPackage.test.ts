/**
 * @oss-runner/client as a program outside the repository gets it: `npm pack`ed, installed from the
 * tarball into a fresh folder, type-checked there under `moduleResolution: NodeNext`, and run against a
 * live server (typed calls and a log subscription to the run's end).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServer, tempDir, type TestServer } from './harness';

const run = promisify(execFile);
const PACKAGE = path.join(ROOT, 'packages/client');
/** What the consumer installs besides the tarball: the package's peers, and its own TypeScript. */
const CONSUMER_DEPS = ['@trpc/client@11.22.1', '@trpc/server@11.22.1', 'typescript@5.9.3', '@types/node@24.19.4'];

let server: TestServer;
let consumer: string;
let packed: string[];

beforeAll(async () => {
  server = await startServer({ catalog: 'tools:\n  - name: hello\n    description: says hello\n    cmd: ["bash", "-c", "echo \'Hello OSS Runner\'"]\n' });
  const dir = tempDir('oss-runner-client-');
  // What prepack does, apart, so that npm pack's output is its JSON alone.
  await run(process.execPath, ['build.ts'], { cwd: PACKAGE });
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: PACKAGE });
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  packed = info?.files.map((f) => f.path) ?? [];
  consumer = path.join(dir, 'consumer');
  await run('mkdir', [consumer]);
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  for (const file of ['consumer.ts', 'tsconfig.json']) copyFileSync(path.join(PACKAGE, 'test', file), path.join(consumer, file));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, info?.filename ?? ''), ...CONSUMER_DEPS], { cwd: consumer });
}, 300_000);
afterAll(() => server?.stop());

describe('@oss-runner/client, packed and installed', () => {
  it('holds declarations only, none of the server', () => {
    expect(packed).toContain('dist/index.d.ts');
    expect(packed).toContain('dist/routers/index.d.ts');
    expect(packed).toContain('dist/schemas/run.d.ts');
    expect(packed.filter((f) => !f.startsWith('dist/') && f !== 'package.json')).toEqual([]);
    expect(packed.filter((f) => /services|store|fleet\/|\.js$/.test(f))).toEqual([]);
  });

  it('type-checks a consumer under moduleResolution NodeNext', async () => {
    const tsc = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { cwd: consumer }).catch((e: { stdout: string }) => e);
    expect(tsc.stdout).toBe('');
  }, 120_000);

  it('calls a live server with it, a log subscription included', async () => {
    const { stdout } = await run(process.execPath, ['consumer.ts'], { cwd: consumer, env: { PATH: process.env.PATH, OSS_RUNNER_URL: server.url, OSS_RUNNER_KEY: server.adminKey } });
    const result = JSON.parse(stdout) as { tools: string[]; status: string; exit_code: number; lines: string[] };
    expect(result.tools).toEqual(['hello']);
    expect(result).toMatchObject({ status: 'succeeded', exit_code: 0, lines: ['Hello OSS Runner'] });
  }, 60_000);
});
