/**
 * The server's configuration: the environment (and a `.env` file, if present) parsed once by a zod
 * schema and frozen. No other module reads process.env.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { DEFAULT_TOOL_PATH, Env, PROJECT_ROOT } from './configSchema';

export { Env, SERVER_SECRETS } from './configSchema';

export type Config = Readonly<
  Omit<z.infer<typeof Env>, 'LOG_DIR' | 'CATALOG_FILE' | 'TOOLS_DIR' | 'OSS_RUNNER_CACHE'> & {
    LOG_DIR: string;
    CATALOG_FILE: string;
    TOOLS_DIR: string;
    /** Where the built web app lives. */
    WEB_DIST: string;
    PROJECT_ROOT: string;
    /** The environment every tool gets: RUN_ENV_ALLOWLIST's variables, nothing else. */
    TOOL_ENV: Readonly<Record<string, string>>;
    /** The server's variables of these names that are set (for a catalog entry's own `env`). */
    envOf: (names: readonly string[]) => Record<string, string>;
  }
>;

export class ConfigError extends Error {}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const dotenv = path.join(cwd, '.env');
  if (env === process.env && existsSync(dotenv)) process.loadEnvFile(dotenv);
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const { OSS_RUNNER_CACHE, ...c } = parsed.data;
  const cache = OSS_RUNNER_CACHE ?? (process.getuid?.() === 0 ? '/var/cache/oss-runner' : path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'oss-runner'));
  const toolsDir = path.resolve(cwd, c.TOOLS_DIR ?? path.join(cache, 'tools'));
  const toolEnv: Record<string, string> = { PATH: DEFAULT_TOOL_PATH };
  for (const name of c.RUN_ENV_ALLOWLIST) {
    const value = env[name];
    if (value !== undefined) toolEnv[name] = value;
  }
  toolEnv.PATH = `${path.join(toolsDir, 'bin')}:${toolEnv.PATH}`;
  return Object.freeze({
    ...c,
    LOG_DIR: path.resolve(cwd, c.LOG_DIR),
    CATALOG_FILE: path.resolve(cwd, c.CATALOG_FILE),
    TOOLS_DIR: toolsDir,
    WEB_DIST: path.join(PROJECT_ROOT, 'dist/web'),
    PROJECT_ROOT,
    TOOL_ENV: Object.freeze(toolEnv),
    envOf: (names: readonly string[]) => Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]]))),
  });
}
