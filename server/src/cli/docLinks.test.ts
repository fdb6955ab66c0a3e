/** Every relative link and anchor in README.md and docs/*.md leads somewhere. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, projectPages, slug } from './docLinks';

describe('documentation links', () => {
  it('every relative link and anchor in README.md and docs/*.md resolves', () => {
    const pages = projectPages();
    expect(pages.length).toBeGreaterThan(1);
    expect(brokenLinks(pages)).toEqual([]);
  });

  it('makes anchors as GitHub does', () => {
    expect(slug("Tools never hold the server's root")).toBe('tools-never-hold-the-servers-root');
    expect(slug('Scanners: installing them, and their databases')).toBe('scanners-installing-them-and-their-databases');
    expect(slug('`npm test` and Node.js')).toBe('npm-test-and-nodejs');
    expect([...anchorsOf('# A\n## A\n```sh\n# not a heading\n```\n## B')]).toEqual(['a', 'a-1', 'b']);
  });

  const dir = mkdtempSync(path.join(tmpdir(), 'doc-links-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a missing file, a missing anchor and a link to nowhere in the same page, and skips code and other sites', () => {
    mkdirSync(path.join(dir, 'docs'));
    writeFileSync(path.join(dir, 'docs/a.md'), '# A\n\n## Here\n');
    const page = path.join(dir, 'README.md');
    writeFileSync(
      page,
      [
        '# Start',
        '[ok](docs/a.md) [ok](docs/a.md#here) [ok](#start) [web](https://example.com/x#y) `[code](nowhere.md)`',
        '[gone](docs/b.md) [no anchor](docs/a.md#there) [no heading](#end)',
        '```md',
        '[in a fence](nowhere.md)',
        '```',
      ].join('\n'),
    );
    expect(brokenLinks([page]).map((b) => [b.line, b.link])).toEqual([
      [3, 'docs/b.md'],
      [3, 'docs/a.md#there'],
      [3, '#end'],
    ]);
  });
});
