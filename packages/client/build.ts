/**
 * Builds @oss-runner/client's declarations into packages/client/dist (`npm run build:client`; plain
 * Node runs this file). TypeScript's own declaration emit of src/index.ts gives the router's d.ts
 * (procedure inputs and outputs written out in full) and the shared schemas'; this keeps those, and
 * makes them a package that resolves under `moduleResolution: NodeNext` as under `bundler`:
 *
 * - every relative import gets its `.js` (NodeNext wants the extension; the sources have none);
 * - the server's request context, and trpc-to-openapi's route metadata, which a client never sees,
 *   become `object`, so the package needs nothing of the server's (its stores, its Redis...);
 * - any other import the routers may come to need fails the build, naming it, rather than shipping
 *   a type that quietly turns into `any` where it is installed.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(import.meta.dirname, 'dist');
/** Packages the declarations may import: the package's dependencies and peers. */
const EXTERNAL = new Set(['@trpc/server', '@trpc/server/unstable-core-do-not-import', 'zod']);

/** Where an emitted declaration goes in dist (by its source's path from the root), or undefined when it is left out. */
function destination(file: string): string | undefined {
  if (file === 'packages/client/src/index.d.ts') return 'index.d.ts';
  if (file === 'shared/src/index.d.ts') return 'schemas/index.d.ts';
  if (file === 'server/src/trpc/context.d.ts') return 'context.d.ts';
  const m = /^(?:server\/src\/(routers)|shared\/src\/(schemas))\/([\w-]+\.d\.ts)$/.exec(file);
  return m ? `${m[1] ?? m[2]}/${m[3]}` : undefined;
}

const CONTEXT = "/** The server's request context: nothing a client sees. */\nexport type Context = object;\n";

// The project's own compiler options (tsconfig.json), emitting declarations only.
const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => {
    throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  },
});
const program = ts.createProgram([path.join(import.meta.dirname, 'src/index.ts')], {
  ...config?.options,
  noEmit: false,
  declaration: true,
  emitDeclarationOnly: true,
  rootDir: ROOT,
  outDir: path.join(ROOT, '.d.ts'),
});
const emitted = new Map<string, string>();
const result = program.emit(undefined, (name, text) => emitted.set(path.relative(path.join(ROOT, '.d.ts'), name), text), undefined, true);
const problems = ts.getPreEmitDiagnostics(program).concat(result.diagnostics).filter((d) => d.category === ts.DiagnosticCategory.Error);
if (problems.length) throw new Error(ts.formatDiagnostics(problems, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' }));

/** The file a relative import in `from` names (`./x` is x.d.ts or x/index.d.ts), as a path from the root. */
function target(from: string, specifier: string): string {
  const base = path.posix.join(path.posix.dirname(from), specifier);
  const found = [`${base}.d.ts`, `${base}/index.d.ts`].find((f) => emitted.has(f));
  if (!found) throw new Error(`${from}: cannot find the declarations of ${specifier}`);
  return found;
}

const files = new Map<string, string>();
for (const [file, text] of emitted) {
  const dest = destination(file);
  if (!dest) continue;
  if (dest === 'context.d.ts') {
    files.set(dest, CONTEXT);
    continue;
  }
  const rewritten = text
    .replaceAll('import("trpc-to-openapi").OpenApiMeta', 'object')
    .replace(/(from |import\()(['"])([^'"]+)\2/g, (whole: string, lead: string, quote: string, specifier: string) => {
      if (!specifier.startsWith('.')) {
        if (!EXTERNAL.has(specifier)) throw new Error(`${file} imports ${specifier}, which @oss-runner/client does not depend on`);
        return whole;
      }
      const to = destination(target(file, specifier));
      if (!to) throw new Error(`${file} imports ${specifier} (${target(file, specifier)}), which the package leaves out: add it to build.ts's destination()`);
      let relative = path.posix.relative(path.posix.dirname(dest), to).replace(/\.d\.ts$/, '.js');
      if (!relative.startsWith('.')) relative = `./${relative}`;
      return `${lead}${quote}${relative}${quote}`;
    });
  files.set(dest, rewritten);
}
if (!files.has('index.d.ts') || !files.has('routers/index.d.ts')) throw new Error('the entry or the router was not emitted');

rmSync(OUT, { recursive: true, force: true });
for (const [dest, text] of files) {
  mkdirSync(path.dirname(path.join(OUT, dest)), { recursive: true });
  writeFileSync(path.join(OUT, dest), text);
}
console.log(`packages/client/dist: ${files.size} declaration files`);
