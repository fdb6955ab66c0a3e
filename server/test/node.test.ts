/**
 * One Node.js release everywhere: .nvmrc (what .ci/node.sh installs for CI and developers), the
 * Dockerfile's base image and package.json's engines agree, and the tests run on it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const pinned = read('.nvmrc').trim();

describe('the Node.js release', () => {
  it('is pinned once in .nvmrc, with its integrity in .ci/node.sh and its image in the Dockerfile', () => {
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    expect(read('.ci/node.sh')).toMatch(new RegExp(`^\\s*${pinned.replaceAll('.', '\\.')}\\) integrity='sha512-[A-Za-z0-9+/=]+' ;;$`, 'm'));
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toContain(`ARG NODE_VERSION=${pinned}\n`);
    const nodeBases = [...dockerfile.matchAll(/^FROM (node:\S+)/gm)].map((m) => m[1]);
    expect(nodeBases.length).toBeGreaterThan(0);
    expect(new Set(nodeBases)).toEqual(new Set(['node:${NODE_VERSION}-bookworm-slim']));
    expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe(`>=${pinned.split('.')[0]}`);
  });

  it('runs these tests (exactly the pinned release in CI)', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    if (process.env.CI) expect(process.versions.node).toBe(pinned);
  });
});
