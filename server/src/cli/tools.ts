/**
 * Installs the shipped catalog's scanners at pinned versions into TOOLS_DIR, whose bin/ is first on
 * the tools' PATH:
 *
 *   npm run tools -- install [trivy syft grype prowler] [--from auto|release|source|DIR] [--mirror URL]
 *   npm run tools -- list
 *
 * --from release: the official release archives from GitHub, each checked against the checksums
 *   file of the same release (a missing or wrong checksum stops it).
 * --from source: built with Go from the Go module proxy (go.sum checked by Go's checksum database);
 *   a few minutes each, the Go caches make a second build quick.
 * --from DIR: binaries already in DIR (the image build uses it to take binaries from its context).
 * auto (the default): release archives where GitHub answers, source otherwise.
 * --mirror URL: where the release archives are, in GitHub's layout (<URL>/<owner>/<repo>/releases/
 *   download/v<version>/...), for a mirror inside your network; https://github.com by default.
 * Prowler always comes from PyPI, into a virtual environment of its own.
 *
 * Each version goes to TOOLS_DIR/<name>-<version>, marked complete only once its binary has reported
 * the pinned version; bin/<name> then points at it and older versions are removed. A version already
 * complete is left as it is, so a second run is quick and says so. The pins (./pins.ts) are the Dockerfile's too.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ConfigError, loadConfig } from '../config';
import { SCANNERS, type GoBuild, type Scanner } from './pins';

const USAGE = `usage:
  npm run tools -- install [${Object.keys(SCANNERS).join(' ')}] [--from auto|release|source|DIR] [--mirror URL]
  npm run tools -- list`;

const run = promisify(execFile);

class InstallError extends Error {}

/** Runs a program with its output shown as it comes, and a line every 30 s while it is quiet for long (go builds). */
function runShown(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
  const started = Date.now();
  const ticker = setInterval(() => console.log(`  ... ${file} still at work (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit'], env: env ?? process.env });
    child.on('error', (e) => reject(new InstallError(`${file}: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new InstallError(`${file} ${args.join(' ')} exited with ${code}`))));
  }).finally(() => clearInterval(ticker));
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new InstallError(`${url}: ${res.status} ${res.statusText}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Whether GitHub's release downloads (or their mirror) answer here; no DNS or no route: build from source instead. */
async function reachable(site: string): Promise<boolean> {
  try {
    await fetch(site, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    return true;
  } catch {
    return false;
  }
}

/** A scanner's version being installed into `dir` (TOOLS_DIR/<name>-<version>). */
interface Target {
  name: string;
  version: string;
  dir: string;
}

/** `site`: GitHub, or a mirror of its release downloads. */
async function fromRelease({ name, version, dir, build, site }: Target & { build: GoBuild; site: string }): Promise<void> {
  const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'amd64' : null;
  if (!arch) throw new InstallError(`no ${name} release archive for ${process.arch}`);
  const base = `${site}/${build.release.repo}/releases/download/v${version}`;
  const archive = build.release.archive(version, arch);
  console.log(`  downloading ${base}/${archive} and ${build.release.checksums(version)}`);
  const [sums, bytes] = await Promise.all([download(`${base}/${build.release.checksums(version)}`), download(`${base}/${archive}`)]);
  const expected = sums
    .toString('utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find(([, file]) => file === archive)?.[0];
  if (!expected) throw new InstallError(`${build.release.checksums(version)} has no line for ${archive}`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) throw new InstallError(`${archive}: sha256 ${actual}, but its release's checksums file says ${expected}`);
  console.log(`  sha256 ${actual} matches the release's checksums file`);
  const tmp = await mkdtemp(path.join(dir, '.download-'));
  try {
    await writeFile(path.join(tmp, archive), bytes);
    await run('tar', ['-xzf', path.join(tmp, archive), '-C', tmp, name]);
    await rename(path.join(tmp, name), path.join(dir, name));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function fromSource({ name, version, dir, build }: Target & { build: GoBuild }): Promise<void> {
  console.log(`  building ${build.package}@v${version} with ${(await run('go', ['version'])).stdout.trim()} (several minutes the first time)`);
  const ldflags = `-s -w -X ${build.versionVariable}=${version}`;
  // CGO off, as the projects' own release builds: a static binary that needs nothing else installed.
  await runShown('go', ['install', '-trimpath', `-ldflags=${ldflags}`, `${build.package}@v${version}`], { ...process.env, GOBIN: dir, CGO_ENABLED: '0', GOFLAGS: '', ...build.env });
  if (!existsSync(path.join(dir, name))) throw new InstallError(`go install did not write ${name}`);
}

async function fromDirectory(name: string, source: string, dir: string): Promise<void> {
  console.log(`  copying ${path.join(source, name)}`);
  await copyFile(path.join(source, name), path.join(dir, name));
}

async function fromPyPI({ version, dir, pkg }: Target & { pkg: string }): Promise<void> {
  console.log(`  installing ${pkg}==${version} from PyPI into a virtual environment (a few minutes the first time)`);
  // The system's Python where there is one: a venv links to its interpreter, and one under a user's
  // home (pyenv's, say) is out of RUN_AS_USER's reach.
  await runShown(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-m', 'venv', dir]);
  await runShown(path.join(dir, 'bin/pip'), ['install', '--disable-pip-version-check', '--no-input', '--progress-bar=off', `${pkg}==${version}`]);
}

/** Where bin/<name> points inside an installed version. */
const entryPoint = (name: string, scanner: Scanner) => ('pip' in scanner.install ? path.join('bin', name) : name);

/**
 * Long enough for a loaded machine: Prowler's `--version` imports every provider it has (about 5 s of
 * CPU on an idle one), and CI installs it beside the Go builds, where a minute was once not enough.
 */
const VERSION_CHECK_MS = 300_000;

async function checkVersion(name: string, scanner: Scanner, program: string): Promise<string> {
  const { stdout, stderr } = await run(program, scanner.versionArgs, { timeout: VERSION_CHECK_MS });
  const output = `${stdout}${stderr}`;
  if (!new RegExp(`\\b${scanner.version.replaceAll('.', '\\.')}\\b`).test(output)) throw new InstallError(`${program} ${scanner.versionArgs.join(' ')} does not report ${scanner.version}: ${output.trim().slice(0, 300)}`);
  return output.split('\n').find((line) => line.includes(scanner.version))?.trim() ?? scanner.version;
}

/** `from`: release, source, or a directory that holds the program. */
async function install({ toolsDir, name, scanner, from, site }: { toolsDir: string; name: string; scanner: Scanner; from: string; site: string }): Promise<void> {
  const started = Date.now();
  const dir = path.join(toolsDir, `${name}-${scanner.version}`);
  const complete = path.join(dir, '.complete');
  const link = path.join(toolsDir, 'bin', name);
  const target = path.join('..', `${name}-${scanner.version}`, entryPoint(name, scanner));
  if (existsSync(complete)) {
    await pointAt(link, target);
    console.log(`${name} ${scanner.version}: already installed in ${dir}`);
    return;
  }
  console.log(`${name} ${scanner.version}: installing into ${dir}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const target: Target = { name, version: scanner.version, dir };
    if ('pip' in scanner.install) await fromPyPI({ ...target, pkg: scanner.install.pip });
    else if (from === 'release') await fromRelease({ ...target, build: scanner.install.go, site });
    else if (from === 'source') await fromSource({ ...target, build: scanner.install.go });
    else await fromDirectory(name, from, dir);
    const reported = await checkVersion(name, scanner, path.join(dir, entryPoint(name, scanner)));
    await writeFile(complete, `${new Date().toISOString()} ${reported}\n`);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  await pointAt(link, target);
  for (const old of await readdir(toolsDir)) if (old.startsWith(`${name}-`) && old !== path.basename(dir)) await rm(path.join(toolsDir, old), { recursive: true, force: true });
  console.log(`${name} ${scanner.version}: installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Points bin/<name> at an installed version, replacing the link in one step. */
async function pointAt(link: string, target: string): Promise<void> {
  const tmp = `${link}.${process.pid}`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
}

async function list(toolsDir: string): Promise<void> {
  for (const [name, scanner] of Object.entries(SCANNERS)) {
    const complete = path.join(toolsDir, `${name}-${scanner.version}`, '.complete');
    const state = existsSync(complete) ? `installed: ${(await readFile(complete, 'utf8')).trim()}` : 'not installed';
    console.log(`${name.padEnd(8)} ${scanner.version.padEnd(8)} ${state}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { from: { type: 'string', default: 'auto' }, mirror: { type: 'string', default: 'https://github.com' } } });
  const [command, ...names] = positionals;
  const toolsDir = loadConfig().TOOLS_DIR;
  if (command === 'list') {
    console.log(`TOOLS_DIR=${toolsDir}`);
    await list(toolsDir);
    return 0;
  }
  if (command !== 'install') {
    console.error(USAGE);
    return 2;
  }
  const unknown = names.filter((n) => !(n in SCANNERS));
  if (unknown.length) {
    console.error(`unknown scanner ${unknown.join(', ')}: choose from ${Object.keys(SCANNERS).join(', ')}\n${USAGE}`);
    return 2;
  }
  let from = values.from;
  const site = values.mirror.replace(/\/+$/, '');
  if (!['auto', 'release', 'source'].includes(from) && !existsSync(from)) {
    console.error(`--from ${from}: neither auto, release, source nor a directory\n${USAGE}`);
    return 2;
  }
  // Readable by RUN_AS_USER: a root server runs its tools as that user.
  process.umask(0o022);
  await mkdir(path.join(toolsDir, 'bin'), { recursive: true });
  const chosen = names.length ? names : Object.keys(SCANNERS);
  if (from === 'auto' && chosen.some((n) => 'go' in SCANNERS[n]!.install && !existsSync(path.join(toolsDir, `${n}-${SCANNERS[n]!.version}`, '.complete')))) {
    from = (await reachable(site)) ? 'release' : 'source';
    console.log(from === 'release' ? `${site} answers: release archives` : `${site} does not answer here: building from source through the Go module proxy`);
  }
  for (const name of chosen) await install({ toolsDir, name, scanner: SCANNERS[name]!, from, site });
  console.log(`done: ${path.join(toolsDir, 'bin')} is first on the tools' PATH`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof InstallError || e instanceof ConfigError ? e.message : e);
    process.exit(1);
  },
);
