/**
 * `npm run tools -- install` from release archives, against a mirror in GitHub's layout served here
 * (these machines do not reach GitHub): an archive that matches its release's checksums file is
 * installed and linked; a wrong or missing checksum stops the install and leaves nothing behind; a
 * second run is quick and says so. The archive holds a stand-in `syft` that prints its version as
 * Syft does: what is tested is the installer, not Syft (server/test/scanners.test.ts runs the real one).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCANNERS } from '../src/cli/pins';
import { ROOT, tempDir } from './harness';

const run = promisify(execFile);
const version = SCANNERS.syft!.version;
const archive = `syft_${version}_linux_${process.arch === 'arm64' ? 'arm64' : 'amd64'}.tar.gz`;
const files = new Map<string, Buffer>();
let mirror: Server;
let site: string;

beforeAll(async () => {
  const build = tempDir();
  writeFileSync(path.join(build, 'syft'), `#!/bin/sh\necho "Application:   syft"\necho "Version:       ${version}"\n`);
  chmodSync(path.join(build, 'syft'), 0o755);
  await run('tar', ['-czf', path.join(build, archive), '-C', build, 'syft']);
  files.set(archive, readFileSync(path.join(build, archive)));
  mirror = createServer((req, res) => {
    const body = files.get(path.basename(req.url ?? ''));
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
  site = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => mirror.close(() => resolve())));

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const checksums = (lines: string) => files.set(`syft_${version}_checksums.txt`, Buffer.from(lines));

async function install(toolsDir: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'server/src/cli/tools.ts', 'install', 'syft', '--from', 'release', '--mirror', site], { cwd: ROOT, env: { ...process.env, TOOLS_DIR: toolsDir } });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
    return { code, out: stdout + stderr };
  }
}

describe('npm run tools -- install, from release archives', () => {
  it('installs an archive that matches its checksums file, links it, and a second run says it is there', async () => {
    checksums(`${'0'.repeat(64)}  syft_${version}_darwin_amd64.tar.gz\n${sha256(files.get(archive)!)}  ${archive}\n`);
    const toolsDir = tempDir();
    const first = await install(toolsDir);
    expect(first.out).toContain('matches the release\'s checksums file');
    expect(first.code, first.out).toBe(0);
    expect(readlinkSync(path.join(toolsDir, 'bin/syft'))).toBe(`../syft-${version}/syft`);
    expect((await run(path.join(toolsDir, 'bin/syft'), ['version'])).stdout).toContain(version);
    const second = await install(toolsDir);
    expect(second.out).toContain(`syft ${version}: already installed`);
  });

  it('stops at a wrong checksum, and at a checksums file with no line for the archive, leaving nothing installed', async () => {
    for (const [sums, says] of <[string, string][]>[
      [`${'ab'.repeat(32)}  ${archive}\n`, `but its release's checksums file says ${'ab'.repeat(32)}`],
      [`${'ab'.repeat(32)}  syft_${version}_darwin_amd64.tar.gz\n`, `has no line for ${archive}`],
    ]) {
      checksums(sums);
      const toolsDir = tempDir();
      const result = await install(toolsDir);
      expect(result.code, result.out).toBe(1);
      expect(result.out).toContain(says);
      expect(existsSync(path.join(toolsDir, `syft-${version}`))).toBe(false);
      expect(existsSync(path.join(toolsDir, 'bin/syft'))).toBe(false);
    }
  });

  it('stops when the checksums file is missing from the release', async () => {
    files.delete(`syft_${version}_checksums.txt`);
    const toolsDir = tempDir();
    mkdirSync(toolsDir, { recursive: true });
    const result = await install(toolsDir);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/checksums\.txt: 404/);
    expect(existsSync(path.join(toolsDir, `syft-${version}`))).toBe(false);
  });
});
