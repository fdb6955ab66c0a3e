/**
 * Compiles the server once to JavaScript in dist/server, which `npm start`, `npm run worker`, the CLIs
 * and the Docker image run (tsx stays for `npm run dev:server` and the tests). esbuild bundles each
 * entry point with the shared/ schemas; npm packages stay imports of node_modules. Plain Node runs this
 * file (it strips the types): `npm run build:server`, part of `npm run build`.
 *
 * - Flat: every entry and chunk lies in dist/server, two levels below the project root as
 *   server/src/config.ts does, so config.ts finds the root (the catalog, dist/web, package.json) from
 *   its own import.meta.url in both.
 * - Split: a module imported dynamically (the S3 archive; a fleet's wiring) becomes a chunk of its own,
 *   loaded only when used, as under tsx.
 * - Swapped in file by file: each written aside and renamed over the old one, chunks before the entry
 *   points that import them, so a process started during another build (`npm start` beside
 *   `npm run worker`, CI's two `npm run tools` at once) never reads half a file.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, 'dist/server');

/** dist/server/<name>.js for each entry point. A summary's worker thread loads `summary-worker.js` by that name, the spawn helper's process `spawn-helper.js`. */
const ENTRIES: Record<string, string> = {
  main: 'server/src/main.ts',
  worker: 'server/src/worker.ts',
  apikey: 'server/src/cli/apikey.ts',
  tools: 'server/src/cli/tools.ts',
  'oss-runner': 'server/src/cli/client/main.ts',
  'summary-worker': 'server/src/services/reports/worker.ts',
  'spawn-helper': 'server/src/process/spawnHelperProcess.ts',
};

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: Object.entries(ENTRIES).map(([out, file]) => ({ in: file, out })),
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  packages: 'external',
  // Stack traces in TypeScript's lines with NODE_OPTIONS=--enable-source-maps; unread otherwise.
  sourcemap: 'linked',
  write: false,
  logLevel: 'warning',
});

const isEntry = (file: string) => path.basename(file).replace(/\.js(\.map)?$/, '') in ENTRIES;
const files = [...result.outputFiles].sort((a, b) => Number(isEntry(a.path)) - Number(isEntry(b.path)));
mkdirSync(OUT, { recursive: true });
for (const file of files) {
  const aside = `${file.path}.${process.pid}.tmp`;
  writeFileSync(aside, file.contents);
  renameSync(aside, file.path);
}
// What an earlier build left that this one no longer makes (chunks named by their content hash).
const made = new Set(files.map((file) => path.basename(file.path)));
for (const name of readdirSync(OUT)) if (!made.has(name) && !name.endsWith('.tmp')) rmSync(path.join(OUT, name), { force: true });
