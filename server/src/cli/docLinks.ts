/**
 * Checks that every relative link in the project's Markdown (README.md and docs/*.md) leads somewhere:
 * the file or folder exists and, for a link into a Markdown file, its `#anchor` names a heading there
 * (as GitHub makes heading anchors). Links to other sites are not followed. Run by docLinks.test.ts;
 * `node --import tsx server/src/cli/docLinks.ts` prints what is broken.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface BrokenLink {
  file: string;
  line: number;
  link: string;
  why: string;
}

/** The project's Markdown pages: README.md and every .md in docs/. */
export function projectPages(root = ROOT): string[] {
  const docs = path.join(root, 'docs');
  const pages = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join(docs, f)) : [];
  return [path.join(root, 'README.md'), ...pages.sort()];
}

/** The page's lines outside fenced code blocks (a `# comment` in a shell example is no heading), with their numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === null || marker.startsWith(fence))) fence = fence === null ? marker : null;
    else if (fence === null) out.push({ line: i + 1, text: line });
  });
  return out;
}

/** GitHub's anchor for a heading: its text without markup, lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a Markdown page offers: its headings (repeats numbered as GitHub does) and explicit ids. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slug(heading);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) if (m[1]) anchors.add(m[1]);
  }
  return anchors;
}

/** The links of a line, code spans left out: `[text](target)` and images alike. */
function linksOf(line: string): string[] {
  const prose = line.replace(/`[^`]*`/g, '');
  return [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '');
}

/** What is broken among the relative links of `files` (absolute paths). */
export function brokenLinks(files: string[]): BrokenLink[] {
  const broken: BrokenLink[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) anchorCache.set(file, (anchors = anchorsOf(readFileSync(file, 'utf8'))));
    return anchors;
  };
  for (const file of files) {
    for (const { line, text } of proseLines(readFileSync(file, 'utf8'))) {
      for (const link of linksOf(text)) {
        // Other sites (https:, mailto:...) are not this check's business.
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
        const hash = link.indexOf('#');
        const target = decodeURIComponent(hash < 0 ? link : link.slice(0, hash));
        const anchor = hash < 0 ? null : decodeURIComponent(link.slice(hash + 1));
        const resolved = target === '' ? file : path.resolve(path.dirname(file), target);
        const report = (why: string) => broken.push({ file: path.relative(ROOT, file), line, link, why });
        if (!existsSync(resolved)) {
          report(`${path.relative(ROOT, resolved)} does not exist`);
          continue;
        }
        if (anchor === null) continue;
        if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) report('an anchor into something other than a Markdown page');
        else if (!anchorsIn(resolved).has(anchor)) report(`${path.relative(ROOT, resolved)} has no heading "#${anchor}"`);
      }
    }
  }
  return broken;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const broken = brokenLinks(projectPages());
  for (const b of broken) console.log(`${b.file}:${b.line}: ${b.link}: ${b.why}`);
  console.log(broken.length ? `${broken.length} broken link(s)` : 'every relative link resolves');
  process.exitCode = broken.length ? 1 : 0;
}
